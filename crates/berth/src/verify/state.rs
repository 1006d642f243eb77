//! What `berth verify` remembers between runs: per log origin, the newest
//! checkpoint note it verified, one file each in the state dir (by default
//! `berth/verify/` in the user's config dir). A later run proves the log it
//! sees grew from it; a log that was rewritten cannot. The file is the
//! signed note as served; it is replaced (atomically, by rename) only by a
//! larger checkpoint proved consistent with it, never after a failure.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_log::{Checkpoint, Note};
use sha2::{Digest, Sha256};

/// Largest state file read.
const MAX_STATE_FILE: u64 = 64 * 1024;

/// The state dir: the one given, or `berth/verify/` in the user's config
/// dir.
pub fn dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy()
        .context("cannot find the user's config dir for berth verify's state; give --state-dir")?;
    Ok(base.config_dir().join("berth").join("verify"))
}

/// The file name of `origin`'s checkpoint: the origin with every character
/// other than `A-Z a-z 0-9 . -` made `_` (at most 100 of them, readable),
/// then 16 hex digits of its SHA-256 (so two origins never share a file).
pub fn file_name(origin: &str) -> String {
    let readable: String = origin
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = hex_prefix(&Sha256::digest(origin.as_bytes()));
    format!("{readable}-{digest}.checkpoint")
}

fn hex_prefix(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A checkpoint this client verified before, and where it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub checkpoint: Checkpoint,
    pub note: String,
    pub path: PathBuf,
}

/// The checkpoint stored for `origin` in `dir`, if any. The note was
/// verified when stored: it is read, not verified again (the keys may have
/// rotated since).
pub fn load(dir: &Path, origin: &str) -> Result<Option<Stored>> {
    let path = dir.join(file_name(origin));
    let note = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let checkpoint = Note::parse(note.as_bytes())
        .map_err(anyhow::Error::from)
        .and_then(|n| Ok(Checkpoint::parse_body(n.text())?))
        .with_context(|| {
            format!(
                "the stored checkpoint {} is damaged (it is left as it is; move it away to start over)",
                path.display()
            )
        })?;
    if checkpoint.origin != origin {
        bail!(
            "the stored checkpoint {} is of `{}`, not `{origin}`",
            path.display(),
            checkpoint.origin
        );
    }
    Ok(Some(Stored {
        checkpoint,
        note,
        path,
    }))
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_STATE_FILE)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Stores `note` (of `checkpoint`) as `origin`'s, unless what is stored now
/// is already as large (another run may have stored since this one read).
/// Returns the file.
pub fn store(dir: &Path, checkpoint: &Checkpoint, note: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(file_name(&checkpoint.origin));
    if let Ok(Some(now)) = load(dir, &checkpoint.origin) {
        if now.checkpoint.size >= checkpoint.size {
            return Ok(path);
        }
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name(&checkpoint.origin),
        std::process::id()
    ));
    std::fs::write(&tmp, note).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Keeps both checkpoints of a fork next to the state file, as evidence
/// (two signed checkpoints no single log can have made). Returns the file.
pub fn keep_evidence(dir: &Path, origin: &str, old: &str, new: &str, why: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let digest = hex_prefix(&Sha256::digest(format!("{old}\0{new}").as_bytes()));
    let stem = file_name(origin);
    let stem = stem.strip_suffix(".checkpoint").unwrap_or(&stem);
    let path = dir.join(format!("{stem}.fork-{digest}.txt"));
    let text = format!(
        "berth verify found two checkpoints of {origin} that one log cannot have signed:\n\
         {why}\n\n-- the older checkpoint --\n{old}\n-- the newer checkpoint --\n{new}"
    );
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::entry::tests::log;

    #[test]
    fn file_names_are_readable_safe_and_distinct() {
        let a = file_name("127.0.0.1:7878/r/main");
        assert!(a.starts_with("127.0.0.1_7878_r_main-"), "{a}");
        assert!(a.ends_with(".checkpoint"));
        assert_eq!(
            a.len(),
            "127.0.0.1_7878_r_main-".len() + 16 + ".checkpoint".len()
        );
        // Origins that sanitize alike still get their own files.
        assert_ne!(file_name("h/r/a_b"), file_name("h/r/a/b"));
        let long = file_name(&format!("h/{}/r/main", "p".repeat(500)));
        assert!(long.len() < 140, "{long}");
        assert!(file_name("../../etc/r/x").chars().all(|c| c != '/'));
    }

    #[test]
    fn a_stored_checkpoint_reads_back_and_only_grows() {
        let dir = tempfile::tempdir().unwrap();
        let (_, c5, n5) = log(5);
        let (_, c3, n3) = log(3);
        assert_eq!(load(dir.path(), &c5.origin).unwrap(), None);
        let path = store(dir.path(), &c5, &n5).unwrap();
        let stored = load(dir.path(), &c5.origin).unwrap().unwrap();
        assert_eq!(
            (stored.checkpoint, stored.note, stored.path),
            (c5.clone(), n5.clone(), path.clone())
        );
        // A smaller one does not replace it.
        store(dir.path(), &c3, &n3).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), n5);

        std::fs::write(&path, "garbage").unwrap();
        let e = format!("{:#}", load(dir.path(), &c5.origin).unwrap_err());
        assert!(e.contains("is damaged"), "{e}");

        let kept = keep_evidence(dir.path(), &c5.origin, &n3, &n5, "why").unwrap();
        let text = std::fs::read_to_string(kept).unwrap();
        assert!(text.contains(&n3) && text.contains(&n5) && text.contains("why"));
    }
}
