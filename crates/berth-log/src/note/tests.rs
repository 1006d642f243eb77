//! Notes against the examples of Go's `sumdb/note` package (its documented
//! keys, signed note and co-signed note), then refusals.

use super::*;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> VerifierKey {
    VerifierKey::parse(PETER_VKEY).unwrap()
}

fn enoch() -> VerifierKey {
    VerifierKey::parse(ENOCH_VKEY).unwrap()
}

fn msg(sigs: &[&str]) -> Vec<u8> {
    format!("{TEXT}\n{}", sigs.concat()).into_bytes()
}

#[test]
fn keys_read_and_write_as_go_writes_them() {
    let v = peter();
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_hash(), 0xc74f20a3);
    assert_eq!(v.to_string(), PETER_VKEY);
    assert_eq!(PETER_VKEY.parse::<VerifierKey>(), Ok(v.clone()));

    let s = SignerKey::parse(PETER_SKEY).unwrap();
    assert_eq!((s.name(), s.key_hash()), ("PeterNeumann", 0xc74f20a3));
    assert_eq!(s.verifier(), v);
    assert_eq!(s.to_secret_text(), PETER_SKEY);
    assert_eq!(format!("{s:?}"), "SignerKey(PeterNeumann+c74f20a3, secret)");
    assert!(!format!("{s:?}").contains("AYEK"));
    assert_eq!(
        VerifierKey::from_ed25519("PeterNeumann", &v.public_key()),
        Ok(v)
    );
}

#[test]
fn a_key_from_a_seed_is_go_s_from_the_same_bytes() {
    // Go's example draws EnochRoot's key from a reader of zeros.
    let s = SignerKey::generate("EnochRoot", [0; 32]).unwrap();
    assert_eq!(s.verifier().to_string(), ENOCH_VKEY);
    assert_eq!(
        SignerKey::parse(&s.to_secret_text()).unwrap().verifier(),
        enoch()
    );
    assert_eq!(
        SignerKey::generate("Enoch Root", [0; 32]).unwrap_err(),
        KeyError::Name("Enoch Root".into())
    );
}

#[test]
fn signing_gives_go_s_signed_note() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    let mut note = Note::new(TEXT).unwrap();
    note.sign(&signer).unwrap();
    assert_eq!(note.encode().as_bytes(), msg(&[PETER_SIG]));
    // Signing again replaces the signature by the same key.
    note.sign(&signer).unwrap();
    assert_eq!(note.signatures().len(), 1);

    // Co-signing adds after the existing signature, as Go's example does.
    let enoch = SignerKey::generate("EnochRoot", [0; 32]).unwrap();
    let mut opened = Note::parse(&msg(&[PETER_SIG])).unwrap();
    opened.sign(&enoch).unwrap();
    assert_eq!(opened.encode().as_bytes(), msg(&[PETER_SIG, ENOCH_SIG]));

    assert_eq!(
        Note::new("abc"),
        Err(NoteError::Malformed("the text does not end in a newline"))
    );
    assert!(Note::new("a\tb\n").is_err());
}

#[test]
fn verifying_as_go_s_open_does() {
    // One known key: its signature verifies, the other is kept unverified.
    let note = Note::parse(&msg(&[PETER_SIG, ENOCH_SIG])).unwrap();
    assert_eq!(note.text(), TEXT);
    let got = note.verify(&[peter()]).unwrap();
    assert_eq!(got.verified.len(), 1);
    assert_eq!(got.verified[0].key_id(), "PeterNeumann+c74f20a3");
    assert_eq!(got.unverified.len(), 1);
    assert_eq!(got.unverified[0].key_id(), "EnochRoot+af0cfe78");

    // Both known (a rotation: either key is accepted, both are checked).
    let got = note.verify(&[peter(), enoch()]).unwrap();
    assert_eq!(got.verified.len(), 2);
    assert!(got.unverified.is_empty());
    let enoch_only = Note::parse(&msg(&[ENOCH_SIG])).unwrap();
    assert!(enoch_only.verify(&[peter(), enoch()]).is_ok());

    // None known.
    assert_eq!(
        note.verify(&[]),
        Err(NoteError::Unverified(vec![
            "PeterNeumann+c74f20a3".into(),
            "EnochRoot+af0cfe78".into()
        ]))
    );
    assert_eq!(
        note.verify(&[]).unwrap_err().to_string(),
        "the note has no signature by a known key (it is signed by PeterNeumann+c74f20a3, EnochRoot+af0cfe78)"
    );

    // A key listed twice is ambiguous when a signature needs it.
    let e = Note::parse(&msg(&[ENOCH_SIG])).unwrap();
    assert_eq!(
        e.verify(&[enoch(), peter(), enoch()]),
        Err(NoteError::AmbiguousKey("EnochRoot+af0cfe78".into()))
    );
    let p = Note::parse(&msg(&[PETER_SIG])).unwrap();
    assert!(p.verify(&[enoch(), peter(), enoch()]).is_ok());

    // Too many signatures.
    let many = vec![PETER_SIG; 101];
    assert_eq!(Note::parse(&msg(&many)), Err(NoteError::TooManySignatures));

    // A bad signature by a known key refuses the note.
    let bent = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        Note::parse(&msg(&[&bent])).unwrap().verify(&[peter()]),
        Err(NoteError::InvalidSignature("PeterNeumann+c74f20a3".into()))
    );

    // Repeats count once; repeated unknown lines are kept once, distinct ones each.
    let bent_enoch = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let note = Note::parse(&msg(&[
        PETER_SIG,
        PETER_SIG,
        ENOCH_SIG,
        ENOCH_SIG,
        &bent_enoch,
    ]))
    .unwrap();
    let got = note.verify(&[peter()]).unwrap();
    assert_eq!(got.verified.len(), 1);
    assert_eq!(got.unverified.len(), 2);
    assert_ne!(got.unverified[0], got.unverified[1]);
}

#[test]
fn another_text_or_key_does_not_verify() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    let mut note = Note::new("hi\n").unwrap();
    note.sign(&signer).unwrap();
    let encoded = note.encode();
    assert!(Note::parse(encoded.as_bytes())
        .unwrap()
        .verify(&[peter()])
        .is_ok());
    let other_text = encoded.replacen("hi", "ho", 1);
    assert_eq!(
        Note::parse(other_text.as_bytes())
            .unwrap()
            .verify(&[peter()]),
        Err(NoteError::InvalidSignature("PeterNeumann+c74f20a3".into()))
    );
    // Another key with the same name has another hash: not this key's.
    let impostor = SignerKey::generate("PeterNeumann", [7; 32]).unwrap();
    let mut forged = Note::new("hi\n").unwrap();
    forged.sign(&impostor).unwrap();
    assert!(matches!(
        forged.verify(&[peter()]),
        Err(NoteError::Unverified(_))
    ));
    // A forged signature under the real key's name and hash fails.
    let mut raw = 0xc74f20a3u32.to_be_bytes().to_vec();
    raw.extend_from_slice(&impostor.sign(b"hi\n"));
    let line = format!("hi\n\n\u{2014} PeterNeumann {}\n", b64().encode(raw));
    assert_eq!(
        Note::parse(line.as_bytes()).unwrap().verify(&[peter()]),
        Err(NoteError::InvalidSignature("PeterNeumann+c74f20a3".into()))
    );
}

#[test]
fn malformed_notes_are_refused() {
    let good = String::from_utf8(msg(&[PETER_SIG])).unwrap();
    let bad = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", PETER_SIG.trim_end()),
        format!("\x01{good}"),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{good}Unexpected line.\n"),
        good.replace('\u{2014}', "-"),
        good.replace("x08go", "x08g!"),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann \n"),
    ];
    for b in bad {
        assert!(
            matches!(Note::parse(b.as_bytes()), Err(NoteError::Malformed(_))),
            "{b:?}"
        );
    }
    let mut not_utf8 = msg(&[PETER_SIG]);
    not_utf8.insert(0, 0xff);
    assert_eq!(
        Note::parse(&not_utf8),
        Err(NoteError::Malformed("not valid UTF-8"))
    );
    let huge = format!("{}\n{PETER_SIG}", "a\n".repeat(MAX_NOTE_LEN / 2));
    assert_eq!(Note::parse(huge.as_bytes()), Err(NoteError::TooLarge));
}

#[test]
fn mangled_keys_are_refused() {
    // Every proper substring and every one-character change, as Go tests.
    for key in [PETER_VKEY, ENOCH_VKEY] {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    let part = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(VerifierKey::parse(part).is_err(), "{part}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(m) = String::from_utf8(m) {
                assert!(VerifierKey::parse(&m).is_err(), "{m}");
            }
        }
    }
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let part = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(SignerKey::parse(part).is_err(), "{part}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(m) = String::from_utf8(m) {
            assert!(SignerKey::parse(&m).is_err(), "{m}");
        }
    }
    // Go's two: a wrong-length key and an unknown algorithm, each with its
    // hash adjusted so that only the key itself is wrong. The first's base64
    // ends in bits Go's lenient decoder drops and this one refuses.
    assert_eq!(
        VerifierKey::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(KeyError::VerifierShape)
    );
    assert_eq!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::Algorithm(0x65))
    );
    // An Ed25519 key of the wrong length, its hash right.
    let mut short = vec![ALG_ED25519];
    short.extend_from_slice(&[9; 31]);
    let text = format!("x+{:08x}+{}", key_hash("x", &short), b64().encode(&short));
    assert_eq!(VerifierKey::parse(&text), Err(KeyError::KeyLength(31)));
    // Messages say what is wrong.
    assert_eq!(
        VerifierKey::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap_err()
            .to_string(),
        "the key hash c74f20a4 does not match the key, whose hash is c74f20a3: the key text is damaged"
    );
    assert_eq!(
        SignerKey::parse(PETER_VKEY).unwrap_err(),
        KeyError::SignerShape
    );
    assert_eq!(
        VerifierKey::parse("Peter+Neumann+c74f20a3+ARpc").unwrap_err(),
        KeyError::VerifierShape
    );
}
