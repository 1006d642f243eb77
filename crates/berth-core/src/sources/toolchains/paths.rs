//! What a path under `/t/NAME/` names in rustup's distribution layout,
//! which channels a registry serves, and the archive hashes a channel
//! manifest gives. Pure: no I/O, no clock.

use std::collections::{BTreeMap, HashMap};

/// A file of the distribution layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DistPath {
    /// `dist/[DATE/]channel-rust-CHANNEL.toml[.sha256]`.
    Manifest {
        date: Option<String>,
        channel: String,
        sha256: bool,
    },
    /// `dist/DATE/FILE`: a component archive.
    Archive { date: String, file: String },
}

impl DistPath {
    /// Reads a request path (without the `/t/NAME/` prefix); `None` when it
    /// names nothing this registry serves.
    pub(crate) fn parse(path: &str) -> Option<DistPath> {
        let rest = path.strip_prefix("dist/")?;
        let (date, file) = match rest.split_once('/') {
            Some((date, file)) if is_date(date) => (Some(date), file),
            Some(_) => return None,
            None => (None, rest),
        };
        if file.is_empty() || file.len() > 200 || !file.bytes().all(is_file_byte) {
            return None;
        }
        if file.starts_with('.') || file.contains("..") {
            return None;
        }
        if let Some(channel) = file.strip_prefix("channel-rust-") {
            let (channel, sha256) = match channel.strip_suffix(".toml.sha256") {
                Some(c) => (c, true),
                None => (channel.strip_suffix(".toml")?, false),
            };
            if !is_channel_name(channel) {
                return None;
            }
            return Some(DistPath::Manifest {
                date: date.map(str::to_string),
                channel: channel.to_string(),
                sha256,
            });
        }
        let date = date?;
        let archive = [".tar.gz", ".tar.xz", ".tar.zst"]
            .iter()
            .any(|ext| file.ends_with(ext));
        archive.then(|| DistPath::Archive {
            date: date.to_string(),
            file: file.to_string(),
        })
    }
}

/// The dist path of a manifest (`sha256`: of its `.sha256` file).
pub(crate) fn manifest_path(date: Option<&str>, channel: &str, sha256: bool) -> String {
    let suffix = if sha256 { ".sha256" } else { "" };
    match date {
        Some(d) => format!("dist/{d}/channel-rust-{channel}.toml{suffix}"),
        None => format!("dist/channel-rust-{channel}.toml{suffix}"),
    }
}

fn is_file_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+')
}

/// `YYYY-MM-DD`, digits.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// A channel as it appears in a manifest's file name: `stable`, `beta`,
/// `nightly`, a version (`1.95.0`, `1.95`), or another short word.
pub(crate) fn is_channel_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
}

/// `CHANNEL-DATE` into its two parts, when it is one.
pub(crate) fn split_dated(s: &str) -> Option<(&str, &str)> {
    if !s.is_ascii() || s.len() < 12 {
        return None;
    }
    let (channel, date) = s.split_at(s.len() - 11);
    let date = date.strip_prefix('-')?;
    (is_channel_name(channel) && is_date(date)).then_some((channel, date))
}

/// Whether a registry with `channels` (empty: any) and `pin` serves the
/// manifest of `channel` (`date`: a dated one).
pub(crate) fn serves(
    channels: &[String],
    pin: &BTreeMap<String, String>,
    channel: &str,
    date: Option<&str>,
) -> bool {
    if channels.is_empty() {
        return true;
    }
    if date.is_some() && pin.get(channel).map(String::as_str) == date {
        return true;
    }
    channels.iter().any(|c| {
        c == channel
            || match (split_dated(c), date) {
                (Some((ch, d)), Some(date)) => ch == channel && d == date,
                _ => false,
            }
    })
}

/// The first word of a `.sha256` file, when it is a sha256 in hex.
pub(crate) fn sha256_of_file(text: &str) -> Option<String> {
    let word = text.split_whitespace().next()?;
    (word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| word.to_ascii_lowercase())
}

/// The sha256 of every archive a channel manifest lists, by its dist path
/// (`dist/DATE/FILE`, the part of its URL from `dist/` on). A manifest that
/// is not TOML gives none.
pub(crate) fn archive_hashes(manifest: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Ok(doc) = manifest.parse::<toml::Table>() else {
        return out;
    };
    let Some(pkgs) = doc.get("pkg").and_then(|p| p.as_table()) else {
        return out;
    };
    for pkg in pkgs.values() {
        let Some(targets) = pkg.get("target").and_then(|t| t.as_table()) else {
            continue;
        };
        for target in targets.values() {
            for (url_key, hash_key) in [
                ("url", "hash"),
                ("xz_url", "xz_hash"),
                ("zst_url", "zst_hash"),
            ] {
                let url = target.get(url_key).and_then(|u| u.as_str());
                let hash = target.get(hash_key).and_then(|h| h.as_str());
                if let (Some(url), Some(hash)) = (url, hash) {
                    if let Some(path) = dist_path_of(url) {
                        out.insert(path, hash.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    out
}

/// The part of an archive URL from its `dist/` on.
fn dist_path_of(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let (_, path) = after_scheme.split_once('/')?;
    let at = if path.starts_with("dist/") {
        0
    } else {
        path.find("/dist/")? + 1
    };
    Some(path[at..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            DistPath::parse("dist/channel-rust-stable.toml.sha256"),
            Some(DistPath::Manifest {
                date: None,
                channel: "stable".into(),
                sha256: true
            })
        );
        assert_eq!(
            DistPath::parse("dist/2026-11-01/channel-rust-nightly.toml"),
            Some(DistPath::Manifest {
                date: Some("2026-11-01".into()),
                channel: "nightly".into(),
                sha256: false
            })
        );
        assert_eq!(
            DistPath::parse("dist/2026-11-01/rustc-1.96.0-x86_64-unknown-linux-gnu.tar.xz"),
            Some(DistPath::Archive {
                date: "2026-11-01".into(),
                file: "rustc-1.96.0-x86_64-unknown-linux-gnu.tar.xz".into()
            })
        );
        for bad in [
            "dist/rustc.tar.gz",
            "dist/2026-11-1/rustc.tar.gz",
            "dist/2026-11-01/../x.tar.gz",
            "dist/2026-11-01/a/b.tar.gz",
            "dist/2026-11-01/notes.txt",
            "dist/channel-rust-..toml",
            "rustup/dist/x.tar.gz",
        ] {
            assert_eq!(DistPath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn channels_served() {
        let pin: BTreeMap<String, String> = [("stable".into(), "2026-11-01".into())].into();
        let channels = vec!["1.95.0".to_string(), "nightly-2026-11-01".to_string()];
        assert!(serves(&[], &BTreeMap::new(), "beta", None));
        assert!(serves(&channels, &pin, "1.95.0", None));
        assert!(serves(&channels, &pin, "nightly", Some("2026-11-01")));
        assert!(!serves(&channels, &pin, "nightly", Some("2026-11-02")));
        assert!(!serves(&channels, &pin, "nightly", None));
        assert!(serves(&channels, &pin, "stable", Some("2026-11-01")));
        assert!(!serves(&channels, &pin, "beta", None));
        assert_eq!(
            split_dated("nightly-2026-11-01"),
            Some(("nightly", "2026-11-01"))
        );
        assert_eq!(split_dated("1.95.0"), None);
    }

    #[test]
    fn hashes_of_a_manifest() {
        let m = "manifest-version = \"2\"\n[pkg.rustc]\nversion = \"x\"\n\
                 [pkg.rustc.target.x86_64-unknown-linux-gnu]\navailable = true\n\
                 url = \"https://example.invalid/dist/2026-11-01/rustc-1.tar.gz\"\nhash = \"AB\"\n\
                 xz_url = \"https://example.invalid/pre/dist/2026-11-01/rustc-1.tar.xz\"\nxz_hash = \"cd\"\n";
        let h = archive_hashes(m);
        assert_eq!(h["dist/2026-11-01/rustc-1.tar.gz"], "ab");
        assert_eq!(h["dist/2026-11-01/rustc-1.tar.xz"], "cd");
        assert_eq!(
            sha256_of_file(&format!("{}  x.toml\n", "A".repeat(64))),
            Some("a".repeat(64))
        );
        assert_eq!(sha256_of_file("nope"), None);
    }
}
