//! Signed notes, as Go's `golang.org/x/mod/sumdb/note` defines them, with
//! Ed25519 keys: what the log's checkpoints are signed in, so that Go's
//! tools and witnesses read them too.
//!
//! A **note** is a text of one or more lines, each ending in a newline, then
//! a blank line, then one or more signature lines:
//!
//! ```text
//! — NAME BASE64(KEY_HASH || SIGNATURE)\n
//! ```
//!
//! (an em dash U+2014 and a space first). `KEY_HASH` is 4 bytes, big-endian:
//! the first four bytes of `SHA-256(NAME || "\n" || 0x01 || PUBLIC_KEY)`;
//! `SIGNATURE` is the Ed25519 signature (64 bytes) of the text, its final
//! newline included, the blank line not. A note is valid UTF-8 with no
//! control character but the newline, at most [`MAX_NOTE_LEN`] bytes and
//! [`MAX_SIGNATURES`] signatures.
//!
//! Keys are text:
//! - a **verifier key** (public): `NAME+HASH+BASE64(0x01 || PUBLIC_KEY)`;
//! - a **signer key** (secret): `PRIVATE+KEY+NAME+HASH+BASE64(0x01 || SEED)`;
//!
//! where `HASH` is the key hash as 8 hex digits, `0x01` names Ed25519 (the
//! one algorithm), and a `NAME` is non-empty UTF-8 with no space, control
//! character or `+`. [`SignerKey::generate`] takes the 32-byte seed from the
//! caller, who draws it from the operating system's random source: this
//! crate has none.
//!
//! [`Note::verify`] follows Go's `note.Open`: a signature by a key in the
//! list must verify (else the whole note is refused), signatures by other
//! keys are kept as unverified, and at least one must verify. A list of
//! several keys is how keys rotate: a note signed by any of them passes;
//! which keys a caller lists (and for which checkpoints) is the caller's.
//! Signatures are checked strictly (`verify_strict`: canonical encodings, no
//! small-order keys), which every honest Ed25519 signer satisfies.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The algorithm byte of an Ed25519 key.
pub const ALG_ED25519: u8 = 1;

/// The most signatures a note may carry (as Go's `note.Open`).
pub const MAX_SIGNATURES: usize = 100;

/// The longest note read, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;

const SIG_PREFIX: &str = "\u{2014} ";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The key hash of a key named `name` whose encoded public key (algorithm
/// byte and key) is `key`.
pub fn key_hash(name: &str, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(key);
    let sum = h.finalize();
    u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// Why a key's text is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a verifier key is NAME+HASH+KEY: HASH 8 hex digits, KEY standard base64")]
    VerifierShape,
    #[error("a signer key is PRIVATE+KEY+NAME+HASH+KEY: HASH 8 hex digits, KEY standard base64")]
    SignerShape,
    #[error("the key name {0:?} must be non-empty, with no space, control character or `+`")]
    Name(String),
    #[error("unknown key algorithm {0}: the one known is Ed25519 ({ALG_ED25519})")]
    Algorithm(u8),
    #[error("an Ed25519 key is 32 bytes, not {0}")]
    KeyLength(usize),
    #[error("the Ed25519 public key is not a point of the curve")]
    NotAPoint,
    #[error("the key hash {given:08x} does not match the key, whose hash is {actual:08x}: the key text is damaged")]
    HashMismatch { given: u32, actual: u32 },
}

/// A public key that verifies notes: `NAME+HASH+BASE64(0x01 || KEY)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// The verifier key for an Ed25519 public key.
    pub fn from_ed25519(name: &str, public: &[u8; 32]) -> Result<VerifierKey, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::Name(name.to_string()));
        }
        let key = VerifyingKey::from_bytes(public).map_err(|_| KeyError::NotAPoint)?;
        Ok(VerifierKey {
            name: name.to_string(),
            hash: key_hash(name, &encoded(public)),
            key,
        })
    }

    /// Reads `NAME+HASH+BASE64(0x01 || KEY)`.
    pub fn parse(text: &str) -> Result<VerifierKey, KeyError> {
        let (name, hash, key) = split_key(text).ok_or(KeyError::VerifierShape)?;
        if !is_valid_name(name) {
            return Err(KeyError::Name(name.to_string()));
        }
        let actual = key_hash(name, &key);
        if hash != actual {
            return Err(KeyError::HashMismatch {
                given: hash,
                actual,
            });
        }
        let public = ed25519_bytes(&key)?;
        VerifierKey::from_ed25519(name, &public)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = encoded(&self.key.to_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.hash, b64().encode(key))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<VerifierKey, KeyError> {
        VerifierKey::parse(s)
    }
}

/// A secret key that signs notes: `PRIVATE+KEY+NAME+HASH+BASE64(0x01 ||
/// SEED)`. Its `Debug` shows only the name and hash; its secret is wiped
/// when dropped.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl SignerKey {
    /// A new key named `name` from 32 bytes the caller drew from a
    /// cryptographically secure random source (the seed *is* the secret).
    pub fn generate(name: &str, seed: [u8; 32]) -> Result<SignerKey, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::Name(name.to_string()));
        }
        let key = SigningKey::from_bytes(&seed);
        let hash = key_hash(name, &encoded(key.verifying_key().as_bytes()));
        Ok(SignerKey {
            name: name.to_string(),
            hash,
            key,
        })
    }

    /// Reads `PRIVATE+KEY+NAME+HASH+BASE64(0x01 || SEED)`; the hash must be
    /// that of the public key the seed makes.
    pub fn parse(text: &str) -> Result<SignerKey, KeyError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::SignerShape)?;
        let (name, hash, key) = split_key(rest).ok_or(KeyError::SignerShape)?;
        let seed = ed25519_bytes(&key)?;
        let signer = SignerKey::generate(name, seed)?;
        if signer.hash != hash {
            return Err(KeyError::HashMismatch {
                given: hash,
                actual: signer.hash,
            });
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.hash
    }

    /// The public half, to hand to verifiers.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.verifying_key(),
        }
    }

    /// The key's secret text, `PRIVATE+KEY+...`: whoever has it can sign.
    pub fn to_secret_text(&self) -> String {
        let seed = encoded(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.hash,
            b64().encode(seed)
        )
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}+{:08x}, secret)", self.name, self.hash)
    }
}

/// `0x01 || key`.
fn encoded(key: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = ALG_ED25519;
    out[1..].copy_from_slice(key);
    out
}

/// `NAME+HASH+BASE64`: the name, the hash and the decoded key (with its
/// algorithm byte). The base64 may itself hold `+`.
fn split_key(text: &str) -> Option<(&str, u32, Vec<u8>)> {
    let (name, rest) = text.split_once('+')?;
    let (hash, key) = rest.split_once('+')?;
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hash = u32::from_str_radix(hash, 16).ok()?;
    let key = b64().decode(key).ok()?;
    if key.is_empty() {
        return None;
    }
    Some((name, hash, key))
}

/// The 32 key bytes after an Ed25519 algorithm byte.
fn ed25519_bytes(key: &[u8]) -> Result<[u8; 32], KeyError> {
    let (&alg, rest) = key.split_first().ok_or(KeyError::KeyLength(0))?;
    if alg != ALG_ED25519 {
        return Err(KeyError::Algorithm(alg));
    }
    <[u8; 32]>::try_from(rest).map_err(|_| KeyError::KeyLength(rest.len()))
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signing key's name.
    pub name: String,
    /// The signing key's hash.
    pub key_hash: u32,
    /// The base64 of the key hash and the signature, as written.
    pub base64: String,
}

impl NoteSignature {
    /// `NAME+HASH`, as messages name a key.
    pub fn key_id(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_hash)
    }

    fn signature_bytes(&self) -> Vec<u8> {
        let raw = b64()
            .decode(&self.base64)
            .expect("checked when parsed or made");
        raw[4..].to_vec()
    }
}

/// Why a note is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note is larger than {MAX_NOTE_LEN} bytes")]
    TooLarge,
    #[error("the note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("ambiguous key {0}: two verifier keys given share its name and hash")]
    AmbiguousKey(String),
    #[error("invalid signature for key {0}")]
    InvalidSignature(String),
    #[error("the note has no signature by a known key{}", signed_by(.0))]
    Unverified(Vec<String>),
}

fn signed_by(keys: &[String]) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        format!(" (it is signed by {})", keys.join(", "))
    }
}

/// A text and its signatures, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// What [`Note::verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Signatures by the keys given, each verified (one per key).
    pub verified: Vec<NoteSignature>,
    /// Signatures by other keys, not checked.
    pub unverified: Vec<NoteSignature>,
}

fn check_chars(text: &str) -> Result<(), NoteError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed(
            "a control character other than newline",
        ));
    }
    Ok(())
}

impl Note {
    /// An unsigned note of `text`: lines each ending in a newline.
    pub fn new(text: impl Into<String>) -> Result<Note, NoteError> {
        let text = text.into();
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed("the text does not end in a newline"));
        }
        if text.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge);
        }
        check_chars(&text)?;
        Ok(Note {
            text,
            signatures: Vec::new(),
        })
    }

    /// Reads a signed note, checking its form, not its signatures.
    pub fn parse(message: &[u8]) -> Result<Note, NoteError> {
        if message.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge);
        }
        let message =
            std::str::from_utf8(message).map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
        check_chars(message)?;
        let split = message
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&message[..split + 1], &message[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature"));
        }
        let sigs = sigs.strip_suffix('\n').ok_or(NoteError::Malformed(
            "the last signature line does not end in a newline",
        ))?;
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(parse_signature(line)?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The signed text, its final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Signs the text with `signer`, after the signatures already there; a
    /// signature by the same key (name and hash) is replaced.
    pub fn sign(&mut self, signer: &SignerKey) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| !(s.name == signer.name && s.key_hash == signer.hash));
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&signer.hash.to_be_bytes());
        raw.extend_from_slice(&signer.sign(self.text.as_bytes()));
        self.signatures.push(NoteSignature {
            name: signer.name.clone(),
            key_hash: signer.hash,
            base64: b64().encode(raw),
        });
        Ok(())
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(SIG_PREFIX);
            out.push_str(&s.name);
            out.push(' ');
            out.push_str(&s.base64);
            out.push('\n');
        }
        out
    }

    /// Checks the signatures by the keys in `known` (see the module's
    /// header): every one must hold and at least one must be there.
    /// Repeated signatures by one key count once.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Verified, NoteError> {
        let mut verified: Vec<NoteSignature> = Vec::new();
        let mut unverified: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut keys = known
                .iter()
                .filter(|k| k.name == sig.name && k.hash == sig.key_hash);
            let Some(key) = keys.next() else {
                if !unverified.contains(sig) {
                    unverified.push(sig.clone());
                }
                continue;
            };
            if keys.next().is_some() {
                return Err(NoteError::AmbiguousKey(sig.key_id()));
            }
            if verified
                .iter()
                .any(|v| v.name == sig.name && v.key_hash == sig.key_hash)
            {
                continue;
            }
            if !key.verify(self.text.as_bytes(), &sig.signature_bytes()) {
                return Err(NoteError::InvalidSignature(sig.key_id()));
            }
            verified.push(sig.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::Unverified(
                unverified.iter().map(NoteSignature::key_id).collect(),
            ));
        }
        Ok(Verified {
            verified,
            unverified,
        })
    }
}

fn parse_signature(line: &str) -> Result<NoteSignature, NoteError> {
    let malformed = NoteError::Malformed("a signature line is not `\u{2014} NAME BASE64`");
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(malformed.clone())?;
    let (name, base64) = rest.split_once(' ').ok_or(malformed.clone())?;
    if !is_valid_name(name) || base64.is_empty() {
        return Err(malformed);
    }
    let raw = b64().decode(base64).map_err(|_| malformed.clone())?;
    if raw.len() < 5 {
        return Err(malformed);
    }
    Ok(NoteSignature {
        name: name.to_string(),
        key_hash: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
        base64: base64.to_string(),
    })
}

#[cfg(test)]
mod tests;
