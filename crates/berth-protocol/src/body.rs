//! The publish request body: `u32` LE length, metadata JSON, `u32` LE length,
//! `.crate` bytes. Every length is checked against the bytes present and
//! against the caller's limits before anything is sliced.

/// The two parts of a publish body, borrowed from the request bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishBody<'a> {
    pub metadata: &'a [u8],
    pub crate_file: &'a [u8],
}

/// Why a publish body could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the publish request body ends early: expected {expected} more bytes for the {part}, found {found}")]
    Truncated {
        part: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("the publish metadata is {len} bytes, more than the {max} bytes allowed")]
    MetadataTooLarge { len: u64, max: u64 },
    #[error("the .crate file is {len} bytes, more than the {max} bytes allowed")]
    CrateTooLarge { len: u64, max: u64 },
    #[error("the publish request body has {0} unexpected bytes after the .crate file")]
    TrailingBytes(u64),
}

impl BodyError {
    /// Whether the error is about a size limit (HTTP 413) rather than a
    /// malformed body (HTTP 400).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            BodyError::MetadataTooLarge { .. } | BodyError::CrateTooLarge { .. }
        )
    }
}

fn take_u32(input: &mut &[u8], part: &'static str) -> Result<u32, BodyError> {
    let Some((len, rest)) = input.split_first_chunk::<4>() else {
        return Err(BodyError::Truncated {
            part,
            expected: 4,
            found: input.len() as u64,
        });
    };
    *input = rest;
    Ok(u32::from_le_bytes(*len))
}

fn take<'a>(input: &mut &'a [u8], len: u32, part: &'static str) -> Result<&'a [u8], BodyError> {
    let len = len as usize;
    if input.len() < len {
        return Err(BodyError::Truncated {
            part,
            expected: len as u64,
            found: input.len() as u64,
        });
    }
    let (head, rest) = input.split_at(len);
    *input = rest;
    Ok(head)
}

/// The two length-prefixed parts of a publish body.
#[derive(Clone, Copy)]
enum Part {
    Metadata,
    Crate,
}

impl Part {
    /// How a truncated body names the part's length and the part.
    fn names(self) -> [&'static str; 2] {
        match self {
            Part::Metadata => ["metadata length", "metadata"],
            Part::Crate => [".crate length", ".crate file"],
        }
    }

    fn too_large(self, len: u64, max: u64) -> BodyError {
        match self {
            Part::Metadata => BodyError::MetadataTooLarge { len, max },
            Part::Crate => BodyError::CrateTooLarge { len, max },
        }
    }
}

/// A part behind its little-endian `u32` length, refused when it is longer
/// than `max`.
fn take_part<'a>(input: &mut &'a [u8], part: Part, max: u64) -> Result<&'a [u8], BodyError> {
    let [len_name, name] = part.names();
    let len = take_u32(input, len_name)?;
    if u64::from(len) > max {
        return Err(part.too_large(len.into(), max));
    }
    take(input, len, name)
}

/// Splits a publish body, refusing parts larger than the given limits.
pub fn parse_publish_body(
    body: &[u8],
    max_metadata: u64,
    max_crate: u64,
) -> Result<PublishBody<'_>, BodyError> {
    let mut input = body;
    let metadata = take_part(&mut input, Part::Metadata, max_metadata)?;
    let crate_file = take_part(&mut input, Part::Crate, max_crate)?;
    if !input.is_empty() {
        return Err(BodyError::TrailingBytes(input.len() as u64));
    }
    Ok(PublishBody {
        metadata,
        crate_file,
    })
}

/// Builds a publish body (used by tests and tools that publish).
pub fn encode_publish_body(metadata: &[u8], crate_file: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + metadata.len() + crate_file.len());
    out.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
    out.extend_from_slice(metadata);
    out.extend_from_slice(&(crate_file.len() as u32).to_le_bytes());
    out.extend_from_slice(crate_file);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_well_formed_body() {
        let body = encode_publish_body(b"{}", b"crate");
        let parsed = parse_publish_body(&body, 100, 100).unwrap();
        assert_eq!(parsed.metadata, b"{}");
        assert_eq!(parsed.crate_file, b"crate");
    }

    #[test]
    fn refuses_truncated_and_lying_bodies() {
        assert!(matches!(
            parse_publish_body(b"", 100, 100),
            Err(BodyError::Truncated { .. })
        ));
        assert!(matches!(
            parse_publish_body(b"\x02\x00", 100, 100),
            Err(BodyError::Truncated { .. })
        ));
        let mut body = encode_publish_body(b"{}", b"crate");
        body.truncate(body.len() - 1);
        assert!(matches!(
            parse_publish_body(&body, 100, 100),
            Err(BodyError::Truncated { .. })
        ));
        // A length field far larger than the body.
        let mut lying = u32::MAX.to_le_bytes().to_vec();
        lying.extend_from_slice(b"{}");
        assert!(matches!(
            parse_publish_body(&lying, u64::MAX, 100),
            Err(BodyError::Truncated { .. })
        ));
        let mut extra = encode_publish_body(b"{}", b"crate");
        extra.push(0);
        assert_eq!(
            parse_publish_body(&extra, 100, 100),
            Err(BodyError::TrailingBytes(1))
        );
    }

    #[test]
    fn enforces_limits_before_reading() {
        let body = encode_publish_body(b"{}", &[0; 50]);
        assert!(parse_publish_body(&body, 1, 100)
            .unwrap_err()
            .is_too_large());
        assert!(parse_publish_body(&body, 100, 49)
            .unwrap_err()
            .is_too_large());
    }
}
