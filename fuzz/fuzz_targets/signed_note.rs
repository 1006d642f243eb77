//! The transparency log's text formats, read from untrusted bytes (a
//! checkpoint a client fetches, a key an operator pastes, a record): Go's
//! signed notes, checkpoint bodies, verifier keys and log records.
//!
//! Invariants: nothing panics; each form has one spelling, so whatever
//! parses is written back byte for byte (a note re-encoded parses to the
//! same note); verifying against a key never panics.
#![no_main]

use berth_log::{Checkpoint, Note, Record, VerifierKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = Note::parse(data) {
        let again = Note::parse(note.encode().as_bytes()).expect("an encoded note parses");
        assert_eq!(again, note);
        if let Some(sig) = note.signatures().first() {
            // A key named as the signature is, with arbitrary key bytes.
            let key = format!("{}+{:08x}+AQ{}", sig.name, sig.key_hash, "A".repeat(42));
            if let Ok(key) = VerifierKey::parse(&key) {
                let _ = note.verify(&[key]);
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(checkpoint) = Checkpoint::parse_body(&text) {
        assert_eq!(checkpoint.body().expect("a parsed checkpoint writes"), text);
    }
    if let Ok(key) = VerifierKey::parse(&text) {
        assert_eq!(key.to_string(), text);
    }
    if let Ok(record) = Record::parse(data) {
        assert_eq!(record.encode().expect("a parsed record writes"), data);
    }
});
