//! The entry the log keeps for one version: `(registry, name, version,
//! sha256, pubtime)`, and its one canonical encoding, which is what is hashed
//! into the tree ([`Record::leaf_hash`]).
//!
//! The encoding is one line of ASCII: a tag naming the format, then the five
//! fields in that order, each followed by one byte (a space between fields,
//! a newline after the last):
//!
//! ```text
//! berth-record/1 REGISTRY NAME VERSION SHA256 PUBTIME\n
//! ```
//!
//! - `REGISTRY`: the registry's name, 1–64 of `A-Z a-z 0-9 - _`;
//! - `NAME`: the crate's name as published (not folded), 1–64 of
//!   `A-Z a-z 0-9 - _`;
//! - `VERSION`: the version exactly as in the index line, build metadata
//!   included, 1–256 of `A-Z a-z 0-9 . + -` (not otherwise parsed);
//! - `SHA256`: the `.crate` file's SHA-256, 64 lowercase hex digits;
//! - `PUBTIME`: when the registry first had it (a hosted publish, or the
//!   moment a proxy first verified and stored it), RFC 3339 UTC to the
//!   second, `YYYY-MM-DDTHH:MM:SSZ`, a real calendar date.
//!
//! No field can hold a space or a newline, so the fields are found by
//! splitting; every field has one spelling, so a record has exactly one
//! encoding, and [`Record::parse`] accepts nothing else (no other spacing, no
//! missing newline, no trailing bytes). A later format takes a new tag.
//! Whether a version is yanked is not part of the record: a yank changes no
//! entry.
//!
//! Example (a made-up checksum), 116 bytes:
//!
//! ```text
//! berth-record/1 main foo 1.2.3 5f3ac0f8d7fdf38bb65c0e7c4ed1d3c8d1bc43ab4a32cc4a7dd9a4e32f2c2d57 2025-03-09T18:00:00Z
//! ```

use crate::hash::{is_lower_hex, leaf_hash, Hash};

/// The tag every record of this format starts with.
pub const RECORD_TAG: &str = "berth-record/1";

/// The longest registry and crate names a record holds.
pub const MAX_NAME_LEN: usize = 64;

/// The longest version a record holds.
pub const MAX_VERSION_LEN: usize = 256;

/// One version, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub registry: String,
    pub name: String,
    pub version: String,
    /// The `.crate` file's SHA-256 (the index line's `cksum`).
    pub sha256: Hash,
    /// RFC 3339 UTC to the second: `YYYY-MM-DDTHH:MM:SSZ`.
    pub pubtime: String,
}

/// Why a record cannot be encoded, or bytes are not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the registry name {0:?} is not 1-64 ASCII letters, digits, `-` or `_`")]
    Registry(String),
    #[error("the crate name {0:?} is not 1-64 ASCII letters, digits, `-` or `_`")]
    Name(String),
    #[error("the version {0:?} is not 1-256 ASCII letters, digits, `.`, `+` or `-`")]
    Version(String),
    #[error(
        "the publish time {0:?} is not an RFC 3339 UTC time to the second (YYYY-MM-DDTHH:MM:SSZ)"
    )]
    Pubtime(String),
    #[error("the checksum {0:?} is not 64 lowercase hex digits")]
    Sha256(String),
    #[error("a record is one line starting `{RECORD_TAG} ` and ending in a newline")]
    Shape,
    #[error("a record has 5 space-separated fields after its tag, not {0}")]
    FieldCount(usize),
}

impl Record {
    /// Checks every field against the format.
    pub fn validate(&self) -> Result<(), RecordError> {
        if !is_name(&self.registry) {
            return Err(RecordError::Registry(self.registry.clone()));
        }
        if !is_name(&self.name) {
            return Err(RecordError::Name(self.name.clone()));
        }
        if !is_version(&self.version) {
            return Err(RecordError::Version(self.version.clone()));
        }
        if !is_pubtime(&self.pubtime) {
            return Err(RecordError::Pubtime(self.pubtime.clone()));
        }
        Ok(())
    }

    /// The canonical encoding (see the module's header).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        self.validate()?;
        let line = format!(
            "{RECORD_TAG} {} {} {} {} {}\n",
            self.registry,
            self.name,
            self.version,
            self.sha256.to_hex(),
            self.pubtime
        );
        Ok(line.into_bytes())
    }

    /// The record's leaf hash in the tree: `SHA-256(0x00 || encoding)`.
    pub fn leaf_hash(&self) -> Result<Hash, RecordError> {
        Ok(leaf_hash(&self.encode()?))
    }

    /// Reads a record from exactly its canonical encoding.
    pub fn parse(bytes: &[u8]) -> Result<Record, RecordError> {
        let text = std::str::from_utf8(bytes).map_err(|_| RecordError::Shape)?;
        let line = text.strip_suffix('\n').ok_or(RecordError::Shape)?;
        let rest = line
            .strip_prefix(RECORD_TAG)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(RecordError::Shape)?;
        if rest.contains('\n') {
            return Err(RecordError::Shape);
        }
        let fields: Vec<&str> = rest.split(' ').collect();
        let [registry, name, version, sha256, pubtime] = fields[..] else {
            return Err(RecordError::FieldCount(fields.len()));
        };
        if sha256.len() != 64 || !sha256.bytes().all(is_lower_hex) {
            return Err(RecordError::Sha256(sha256.to_string()));
        }
        let record = Record {
            registry: registry.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            sha256: Hash::from_hex(sha256).map_err(|_| RecordError::Sha256(sha256.into()))?,
            pubtime: pubtime.to_string(),
        };
        record.validate()?;
        Ok(record)
    }
}

fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_version(s: &str) -> bool {
    (1..=MAX_VERSION_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, a date that exists, hours 00-23, minutes and
/// seconds 00-59.
fn is_pubtime(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 20 {
        return false;
    }
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    if !b.iter().zip(shape).all(|(c, want)| match want {
        b'd' => c.is_ascii_digit(),
        other => c == other,
    }) {
        return false;
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            registry: "main".into(),
            name: "Foo_bar-2".into(),
            version: "1.0.0-rc.1+build.5".into(),
            sha256: Hash::from_hex(
                "5f3ac0f8d7fdf38bb65c0e7c4ed1d3c8d1bc43ab4a32cc4a7dd9a4e32f2c2d57",
            )
            .unwrap(),
            pubtime: "2024-02-29T23:59:59Z".into(),
        }
    }

    #[test]
    fn the_encoding_is_the_documented_line_and_round_trips() {
        let r = record();
        let bytes = r.encode().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "berth-record/1 main Foo_bar-2 1.0.0-rc.1+build.5 \
             5f3ac0f8d7fdf38bb65c0e7c4ed1d3c8d1bc43ab4a32cc4a7dd9a4e32f2c2d57 \
             2024-02-29T23:59:59Z\n"
        );
        assert_eq!(Record::parse(&bytes), Ok(r.clone()));
        assert_eq!(Record::parse(&bytes).unwrap().encode().unwrap(), bytes);
        assert_eq!(r.leaf_hash().unwrap(), leaf_hash(&bytes));

        // The header's example is the encoding of its fields.
        let example = Record {
            registry: "main".into(),
            name: "foo".into(),
            version: "1.2.3".into(),
            sha256: r.sha256,
            pubtime: "2025-03-09T18:00:00Z".into(),
        };
        let line = example.encode().unwrap();
        assert_eq!(line.len(), 116);
        assert!(include_str!("record.rs").contains(&format!(
            "//! {}",
            std::str::from_utf8(&line).unwrap().trim_end()
        )));
    }

    #[test]
    fn every_field_change_changes_the_leaf() {
        let base = record().leaf_hash().unwrap();
        let mut changed = Vec::new();
        let mut r = record();
        r.registry = "mainx".into();
        changed.push(r);
        let mut r = record();
        r.name = "foo_bar-2".into();
        changed.push(r);
        let mut r = record();
        r.version = "1.0.0-rc.1".into();
        changed.push(r);
        let mut r = record();
        r.sha256.0[31] ^= 1;
        changed.push(r);
        let mut r = record();
        r.pubtime = "2024-02-29T23:59:58Z".into();
        changed.push(r);
        for r in changed {
            assert_ne!(r.leaf_hash().unwrap(), base, "{r:?}");
        }
    }

    #[test]
    fn only_the_canonical_encoding_parses() {
        let good = String::from_utf8(record().encode().unwrap()).unwrap();
        let bad = [
            good.trim_end().to_string(),
            format!("{good}\n"),
            format!("{good}x"),
            format!(" {good}"),
            good.replacen(' ', "  ", 1),
            good.replacen("main ", "main\t", 1),
            good.replace("berth-record/1", "berth-record/2"),
            good.replace("5f3ac0", "5F3AC0"),
            good.replace("5f3ac0", "5f3ac"),
            good.replace(" main", ""),
            good.replace("Foo_bar-2", "Foo_bar-2 extra"),
            good.replace("Foo_bar-2", "Foo.bar"),
            good.replace("1.0.0-rc.1+build.5", "1.0.0_1"),
            good.replace("23:59:59Z", "23:59:59+00:00"),
            good.replace("2024-02-29", "2023-02-29"),
            good.replace("2024-02-29", "2024-13-01"),
            good.replace("2024-02-29", "2024-04-31"),
            good.replace("23:59:59", "24:00:00"),
            good.replace("23:59:59", "23:60:00"),
            good.replace("23:59:59", "23:59:60"),
            good.replace('T', "t"),
            good.replace("main", ""),
            good.replace("main", &"m".repeat(65)),
        ];
        for b in bad {
            assert!(Record::parse(b.as_bytes()).is_err(), "{b:?}");
        }
        assert!(Record::parse(&[0xff, b'\n']).is_err());
        assert!(Record::parse(b"").is_err());
        // Limits hold on both sides.
        let mut long = record();
        long.name = "n".repeat(64);
        long.version = "1".repeat(256);
        assert_eq!(Record::parse(&long.encode().unwrap()), Ok(long.clone()));
        long.version.push('1');
        assert!(matches!(long.encode(), Err(RecordError::Version(_))));
    }

    #[test]
    fn errors_say_which_field() {
        let mut r = record();
        r.pubtime = "2024-02-29 23:59:59".into();
        assert_eq!(
            r.encode().unwrap_err().to_string(),
            "the publish time \"2024-02-29 23:59:59\" is not an RFC 3339 UTC time to the second (YYYY-MM-DDTHH:MM:SSZ)"
        );
        let line = "berth-record/1 a b 1.0.0 zz 2024-01-01T00:00:00Z\n";
        assert_eq!(
            Record::parse(line.as_bytes()),
            Err(RecordError::Sha256("zz".into()))
        );
        let line = "berth-record/1 a b 1.0.0\n";
        assert_eq!(
            Record::parse(line.as_bytes()),
            Err(RecordError::FieldCount(3))
        );
    }
}
