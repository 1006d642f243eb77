//! The `.crate` file unpacked into the work directory. `berth-tarball`
//! decides whether the archive is acceptable (paths under `NAME-VERSION/`,
//! regular files and directories only, sizes and counts bounded); only then
//! is it read a second time and written out, each entry's path checked again
//! and each file created new (never through an existing file or link), its
//! mode reduced to read/write plus the executable bit. The root's `.cargo/`
//! is not written: cargo would read its configuration in the fetch phase.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

/// Unpacks `crate_file` into `into/NAME-VERSION/` and returns that directory
/// and the manifest text. Errors are worded for the operator.
pub(crate) fn unpack(
    crate_file: &Path,
    name: &str,
    version: &str,
    limits: &berth_tarball::Limits,
    into: &Path,
) -> Result<(PathBuf, String), String> {
    let size = fs::metadata(crate_file)
        .map_err(|e| format!("cannot read {}: {e}", crate_file.display()))?
        .len();
    if size > limits.max_unpacked_size {
        return Err(format!(
            "the .crate file is {size} bytes, more than the {} allowed",
            limits.max_unpacked_size
        ));
    }
    let bytes =
        fs::read(crate_file).map_err(|e| format!("cannot read {}: {e}", crate_file.display()))?;
    berth_tarball::inspect(&bytes, name, version, None, limits).map_err(|e| e.to_string())?;

    let root_name = format!("{name}-{version}");
    let root = into.join(&root_name);
    let mut archive = tar::Archive::new(GzDecoder::new(bytes.as_slice()));
    let mut written: u64 = 0;
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let kind = entry.header().entry_type();
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let relative = inside(&path, &root_name)
            .ok_or_else(|| format!("entry `{}` is outside `{root_name}/`", path.display()))?;
        if relative.components().next() == Some(Component::Normal(".cargo".as_ref())) {
            continue;
        }
        let target = root.join(&relative);
        let is_dir = kind.is_dir() || path.as_os_str().as_encoded_bytes().ends_with(b"/");
        if is_dir {
            fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            continue;
        }
        if !kind.is_file() {
            return Err(format!("entry `{}` is not a regular file", path.display()));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(&target)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        let budget = limits.max_unpacked_size.saturating_sub(written);
        let n = io::copy(&mut (&mut entry).take(budget), &mut file)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        written = written.saturating_add(n);
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("the unpacked Cargo.toml: {e}"))?;
    Ok((root, manifest))
}

/// The entry's path below `root`, if it is `root` followed by plain names.
fn inside(path: &Path, root: &str) -> Option<PathBuf> {
    let mut components = path.components();
    if components.next() != Some(Component::Normal(root.as_ref())) {
        return None;
    }
    let mut relative = PathBuf::new();
    for c in components {
        match c {
            Component::Normal(part) => relative.push(part),
            _ => return None,
        }
    }
    Some(relative)
}
