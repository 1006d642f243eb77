//! SHA-256 hashes as the tree uses them (RFC 9162 §2.1.1): a leaf is
//! `SHA-256(0x00 || data)`, an interior node `SHA-256(0x01 || left || right)`,
//! and the empty tree `SHA-256()`. The two prefixes keep a leaf from ever
//! passing for a node (a second-preimage attack on the tree).

use std::fmt;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The size of every hash in the log, in bytes.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 value: a leaf hash, a node hash or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Why bytes or text are not a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("a hash is {HASH_SIZE} bytes, not {0}")]
    Length(usize),
    #[error("a hash in hex is {} lowercase hex digits", HASH_SIZE * 2)]
    Hex,
    #[error("a hash in base64 is {HASH_SIZE} bytes in standard, padded base64")]
    Base64,
}

impl Hash {
    /// The hash in `bytes`, which must be exactly [`HASH_SIZE`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, HashError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashError::Length(bytes.len()))
    }

    /// Parses 64 lowercase hex digits (the one spelling [`Hash::to_hex`] writes).
    pub fn from_hex(text: &str) -> Result<Hash, HashError> {
        if text.len() != HASH_SIZE * 2 || !text.bytes().all(is_lower_hex) {
            return Err(HashError::Hex);
        }
        let mut out = [0u8; HASH_SIZE];
        hex::decode_to_slice(text, &mut out).map_err(|_| HashError::Hex)?;
        Ok(Hash(out))
    }

    /// Parses standard base64 with padding (RFC 4648 §4), as checkpoints and
    /// the Go tools write hashes; non-canonical spellings are refused.
    pub fn from_base64(text: &str) -> Result<Hash, HashError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HashError::Base64)?;
        Hash::from_slice(&bytes).map_err(|_| HashError::Base64)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }
}

pub(crate) fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The leaf hash of an entry: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root of the empty tree: the SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_refuse_the_rest() {
        let h = leaf_hash(b"hello world");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(
            Hash::from_hex(&h.to_hex().to_uppercase()),
            Err(HashError::Hex)
        );
        assert_eq!(Hash::from_hex(&h.to_hex()[1..]), Err(HashError::Hex));
        assert_eq!(Hash::from_slice(&[0; 31]), Err(HashError::Length(31)));
        // Unpadded, and a spelling with non-zero trailing bits, are refused.
        let b64 = h.to_base64();
        assert_eq!(
            Hash::from_base64(b64.trim_end_matches('=')),
            Err(HashError::Base64)
        );
        // 32 zero bytes are 43 `A`s and `=`; the last `A` carries two bits
        // beyond the 256, which must be zero: `B` sets one of them.
        let zero = Hash([0; HASH_SIZE]).to_base64();
        assert_eq!(zero, format!("{}=", "A".repeat(43)));
        let bent = format!("{}B=", "A".repeat(42));
        assert_eq!(Hash::from_base64(&bent), Err(HashError::Base64));
        assert_eq!(format!("{h:?}"), format!("Hash({})", h.to_hex()));
    }

    #[test]
    fn prefixes_separate_leaves_from_nodes() {
        // RFC 6962's first test input is the empty leaf.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let a = leaf_hash(b"a");
        let mut both = Vec::from(a.0);
        both.extend_from_slice(&a.0);
        assert_ne!(node_hash(&a, &a), leaf_hash(&both));
    }
}
