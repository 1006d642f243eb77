//! A `.crate` file given to `berth verify`: its name and version from the
//! `Cargo.toml` inside (through berth-tarball's bounded inspection), and
//! the SHA-256 of its bytes, which the log must hold for that version.
//! The file is read into memory, up to [`MAX_CRATE_BYTES`].

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::lockfile::Wanted;

/// Largest `.crate` file read.
pub const MAX_CRATE_BYTES: u64 = 256 << 20;
/// Most bytes decompressed to find the archive's first entry.
const FIRST_ENTRY_BYTES: u64 = 1 << 20;

/// The version a `.crate` file is, and its checksum.
pub fn read(path: &Path) -> Result<Wanted> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_CRATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_CRATE_BYTES {
        bail!("{} is larger than {MAX_CRATE_BYTES} bytes", path.display());
    }
    let (name, version) = name_and_version(&bytes)
        .with_context(|| format!("{} is not a .crate file", path.display()))?;
    Ok(Wanted {
        name,
        version,
        sha256: hex_sha256(&bytes),
    })
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    berth_log::Hash(Sha256::digest(bytes).into()).to_hex()
}

/// The package's name and version: the archive's root directory is
/// `NAME-VERSION/`, split where the `Cargo.toml` inside agrees.
fn name_and_version(bytes: &[u8]) -> Result<(String, String)> {
    let root = root_dir(bytes)?;
    let limits = berth_tarball::Limits::default();
    let mut last_error = None;
    for (name, version) in splits(&root) {
        match berth_tarball::inspect(bytes, name, version, None, &limits) {
            Ok(info) => return Ok((info.manifest_name, info.manifest_version)),
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) => Err(e).context(format!("its root directory `{root}/`")),
        None => bail!("its root directory `{root}/` is not NAME-VERSION"),
    }
}

/// The ways `NAME-VERSION` splits into a name and a version whose first
/// part is a number (`a-b-1.0.0-rc.1`: `a-b` and `1.0.0-rc.1`).
fn splits(root: &str) -> Vec<(&str, &str)> {
    root.match_indices('-')
        .map(|(at, _)| (&root[..at], &root[at + 1..]))
        .filter(|(name, version)| {
            !name.is_empty()
                && version.split('.').next().is_some_and(|major| {
                    !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit())
                })
        })
        .collect()
}

/// The first path component of the archive's first entry.
fn root_dir(bytes: &[u8]) -> Result<String> {
    let gz = flate2::read::GzDecoder::new(bytes).take(FIRST_ENTRY_BYTES);
    let mut archive = tar::Archive::new(gz);
    let mut entries = archive.entries().context("not a tar archive")?;
    let first = entries
        .next()
        .context("the archive is empty")?
        .context("not a gzip'd tar archive")?;
    let path = first.path().context("the first entry's path")?;
    let root = path
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .context("the first entry has no path")?;
    Ok(root.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_splits_where_the_version_starts() {
        assert_eq!(splits("foo-1.0.0"), [("foo", "1.0.0")]);
        assert_eq!(splits("a-b-2-1.0.0-rc.1"), [("a-b-2", "1.0.0-rc.1")]);
        // Each candidate is tried against the manifest inside.
        assert_eq!(
            splits("a-1.0.0-2.0"),
            [("a", "1.0.0-2.0"), ("a-1.0.0", "2.0")]
        );
        assert!(splits("nodash").is_empty());
        assert!(splits("-1.0.0").is_empty());
    }

    #[test]
    fn a_crate_file_names_its_version_and_checksum() {
        let bytes = berth_testkit::crate_file("a-b-2", "1.0.0-rc.1", "pub fn f() {}\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.crate");
        std::fs::write(&path, &bytes).unwrap();
        let w = read(&path).unwrap();
        assert_eq!(
            (w.name.as_str(), w.version.as_str()),
            ("a-b-2", "1.0.0-rc.1")
        );
        assert_eq!(w.sha256, berth_testkit::sha256_hex(&bytes));

        std::fs::write(&path, b"not gzip").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("is not a .crate file"), "{e}");
    }
}
