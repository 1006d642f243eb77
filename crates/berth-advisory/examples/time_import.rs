//! Times imports of a large advisory set.
//!
//! `cargo run --release -p berth-advisory --example time_import` generates
//! 1,200 advisories in the RustSec format (400 crates, three each, with
//! multi-range `patched`, `unaffected`, informational and withdrawn ones) in
//! a temporary directory, packs it as a `.tar.gz` and a `.zip` (under a
//! top-level folder, as an archive of a checkout is), and prints the best of
//! five imports of each form. Given paths instead
//! (`... --example time_import -- PATH...`), it times the import of each
//! (a checkout of the real database, or an archive of one).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_advisory::{import_path, Limits};

const ADVISORIES: usize = 1_200;
const CRATES: usize = 400;
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if !paths.is_empty() {
        for path in paths {
            time(Path::new(&path))?;
        }
        return Ok(());
    }
    let work = tempfile::tempdir()?;
    let root = work.path().join("advisory-db");
    generate(&root)?;
    let tgz = work.path().join("db.tar.gz");
    let zip = work.path().join("db.zip");
    pack_tgz(&root, &tgz)?;
    pack_zip(&root, &zip)?;
    for path in [&root, &tgz, &zip] {
        time(path)?;
    }
    Ok(())
}

fn time(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let set = import_path(path, &Limits::default())?;
        best = best.min(start.elapsed());
        last = Some(set);
    }
    if let Some(set) = last {
        println!(
            "{}: {} advisories, {} crates, best of {RUNS}: {:.1} ms, digest {}",
            path.display(),
            set.len(),
            set.crate_count(),
            best.as_secs_f64() * 1000.0,
            &set.digest()[..16],
        );
    }
    Ok(())
}

/// Writes `crates/NAME/RUSTSEC-YYYY-NNNN.md` files in the real format.
fn generate(root: &Path) -> std::io::Result<()> {
    for i in 0..ADVISORIES {
        let name = format!("gen-crate-{}", i % CRATES);
        let dir = root.join("crates").join(&name);
        fs::create_dir_all(&dir)?;
        let id = format!("RUSTSEC-{}-{:04}", 2016 + i % 10, i);
        let minor = i % 7;
        let informational = match i % 10 {
            3 => "informational = \"unmaintained\"\n",
            6 => "informational = \"unsound\"\n",
            _ => "",
        };
        let withdrawn = if i % 50 == 0 {
            "withdrawn = \"2024-02-01\"\n"
        } else {
            ""
        };
        let text = format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{name}\"\ndate = \"2021-03-{:02}\"\n\
             url = \"https://example.invalid/advisories/{id}\"\ncategories = [\"memory-corruption\"]\n\
             keywords = [\"generated\"]\naliases = [\"CVE-2021-{i:05}\"]\n{informational}{withdrawn}\n\
             [versions]\npatched = [\">= 1.{minor}.3, < 1.{}\", \">= 1.{}.1\"]\nunaffected = [\"< 0.4\"]\n```\n\n\
             # Generated advisory {i} for {name}\n\n\
             A generated description of a flaw in `{name}`, long enough to look like one:\n\
             bounds are not checked before a copy, so a crafted input writes past the end.\n\n\
             ## Fix\n\nUpgrade to a patched version.\n",
            1 + i % 28,
            minor + 1,
            minor + 1,
        );
        fs::write(dir.join(format!("{id}.md")), text)?;
    }
    fs::write(root.join("README.md"), "# Generated advisory database\n")?;
    Ok(())
}

fn pack_tgz(root: &Path, out: &Path) -> std::io::Result<()> {
    let gz = flate2::write::GzEncoder::new(fs::File::create(out)?, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("advisory-db-main", root)?;
    tar.into_inner()?.finish()?.flush()
}

fn pack_zip(root: &Path, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut zip = zip::ZipWriter::new(fs::File::create(out)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)?
                .to_string_lossy()
                .replace('\\', "/");
            zip.start_file(format!("advisory-db-main/{rel}"), options)?;
            zip.write_all(&fs::read(&path)?)?;
        }
    }
    zip.finish()?;
    Ok(())
}
