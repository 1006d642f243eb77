//! Fixtures for the import tests: advisories written in the real RustSec and
//! OSV formats by the tests themselves (never copies of real advisories), and
//! `.tar.gz`, `.tar` and `.zip` archives of them built in memory.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::Path;

/// A RustSec Markdown advisory: front matter with `meta` lines added to
/// `[advisory]` and the `[versions]` lines given, then a heading and body.
pub fn rustsec_md(id: &str, package: &str, meta: &str, versions: &str, title: &str) -> String {
    format!(
        "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"2023-04-05\"\n\
         url = \"https://example.invalid/{id}\"\ncategories = [\"memory-corruption\"]\n\
         keywords = [\"test\"]\n{meta}\n[versions]\n{versions}\n```\n\n# {title}\n\n\
         The first paragraph says what is wrong\nover two lines.\n\nA second paragraph.\n"
    )
}

/// The path a RustSec advisory is filed at.
pub fn md_path(package: &str, id: &str) -> String {
    format!("crates/{package}/{id}.md")
}

/// An OSV record for one Rust crate with the given `ranges` JSON, plus
/// an entry for another ecosystem that must be ignored.
pub fn osv_json(id: &str, package: &str, ranges: &str, extra: &str) -> String {
    let eco = berth_advisory::OSV_ECOSYSTEM;
    format!(
        r#"{{
  "schema_version": "1.4.0",
  "id": "{id}",
  "modified": "2024-01-02T03:04:05Z",
  "published": "2023-12-01T12:00:00Z",
  {extra}
  "aliases": ["CVE-2023-99999"],
  "summary": "Summary of {id}",
  "details": "Details of {id}.\n\nMore details.",
  "affected": [
    {{
      "package": {{"ecosystem": "npm", "name": "{package}"}},
      "ranges": [{{"type": "SEMVER", "events": [{{"introduced": "0"}}]}}]
    }},
    {{
      "package": {{"ecosystem": "{eco}", "name": "{package}", "purl": "pkg:cargo/{package}"}},
      "ranges": {ranges},
      "database_specific": {{"categories": ["denial-of-service"], "cvss": null, "informational": null}}
    }}
  ],
  "references": [
    {{"type": "PACKAGE", "url": "https://example.invalid/crates/{package}"}},
    {{"type": "ADVISORY", "url": "https://example.invalid/advisories/{id}"}}
  ]
}}"#
    )
}

/// Writes `files` (relative paths) under `root`.
pub fn write_tree(root: &Path, files: &[(String, String)]) {
    for (rel, text) in files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

/// A `.tar` of `files`, each under `prefix` (empty: none).
pub fn tar(prefix: &str, files: &[(String, String)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (rel, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let path = if prefix.is_empty() {
            rel.clone()
        } else {
            format!("{prefix}/{rel}")
        };
        builder
            .append_data(&mut header, path, text.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A `.tar.gz` of `files`, each under `prefix`.
pub fn tar_gz(prefix: &str, files: &[(String, String)]) -> Vec<u8> {
    gzip(&tar(prefix, files))
}

/// A `.zip` of `files` (deflated), each under `prefix`.
pub fn zip(prefix: &str, files: &[(String, String)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (rel, text) in files {
        let path = if prefix.is_empty() {
            rel.clone()
        } else {
            format!("{prefix}/{rel}")
        };
        writer.start_file(path, options).unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A tar whose one member's name is written raw into the header, so that a
/// name the tar writer itself refuses (`..`, absolute) can be made.
pub fn tar_with_raw_name(name: &str, body: &str) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, body.as_bytes()).unwrap();
    builder.into_inner().unwrap()
}

/// A small database in the real layout: a multi-range vulnerability, an
/// unmaintained and an unsound crate, a withdrawn advisory, files that are
/// not advisories, and the draft template.
pub fn small_db() -> Vec<(String, String)> {
    vec![
        (
            md_path("multi-range", "RUSTSEC-2023-0001"),
            rustsec_md(
                "RUSTSEC-2023-0001",
                "multi-range",
                "aliases = [\"CVE-2023-0001\"]\ncvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"",
                "patched = [\">= 1.2.3, < 1.3\", \">= 1.3.1\"]\nunaffected = [\"< 1.0\"]",
                "Buffer overflow in multi-range",
            ),
        ),
        (
            md_path("old-crate", "RUSTSEC-2023-0002"),
            rustsec_md(
                "RUSTSEC-2023-0002",
                "old-crate",
                "informational = \"unmaintained\"",
                "patched = []",
                "old-crate is unmaintained",
            ),
        ),
        (
            md_path("shaky", "RUSTSEC-2023-0003"),
            rustsec_md(
                "RUSTSEC-2023-0003",
                "shaky",
                "informational = \"unsound\"",
                "patched = [\">= 0.3.0\"]",
                "Unsound Send impl in shaky",
            ),
        ),
        (
            md_path("shaky", "RUSTSEC-2023-0004"),
            rustsec_md(
                "RUSTSEC-2023-0004",
                "shaky",
                "withdrawn = \"2023-06-01\"",
                "patched = []",
                "Filed in error",
            ),
        ),
        ("README.md".into(), "# Not an advisory\n".into()),
        ("support.toml".into(), "not = [\"an advisory\"]\n".into()),
        (
            "crates/template/RUSTSEC-0000-0000.md".into(),
            "a draft that is not valid\n".into(),
        ),
        (".github/workflow.json".into(), "{ not json".into()),
    ]
}
