//! The Rust toolchain a build uses ([`Toolchain`]): a directory holding
//! `bin/cargo`, `bin/rustc` and `bin/rustdoc`, given as a path or resolved
//! from a rustup toolchain name to its sysroot. Builds run that directory's
//! binaries directly, never the rustup proxies (which read
//! `rust-toolchain.toml` from the crate and could fetch another toolchain).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A resolved toolchain directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolchain {
    root: PathBuf,
    nightly: bool,
}

impl Toolchain {
    /// A toolchain directory given by path. Checks that `bin/cargo`,
    /// `bin/rustc` and `bin/rustdoc` are there and that rustc runs.
    pub fn from_dir(root: impl Into<PathBuf>) -> Result<Self, String> {
        let root: PathBuf = root.into();
        let root = root
            .canonicalize()
            .map_err(|e| format!("toolchain directory {}: {e}", root.display()))?;
        for tool in ["cargo", "rustc", "rustdoc"] {
            let bin = root.join("bin").join(tool);
            if !bin.is_file() {
                return Err(format!(
                    "toolchain directory {} has no bin/{tool}",
                    root.display()
                ));
            }
        }
        let rustc = root.join("bin/rustc");
        let version = Command::new(&rustc)
            .arg("-V")
            .env_clear()
            .output()
            .map_err(|e| format!("cannot run {}: {e}", rustc.display()))?;
        if !version.status.success() {
            return Err(format!(
                "{} -V failed: {}",
                rustc.display(),
                String::from_utf8_lossy(&version.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&version.stdout);
        let nightly = text.contains("-nightly") || text.contains("-dev");
        Ok(Toolchain { root, nightly })
    }

    /// A rustup toolchain by name (`stable`, `1.95.0`, `nightly-2026-01-01`):
    /// `rustup which --toolchain NAME rustc`, then the directory above its
    /// `bin/`. rustup must be on `PATH`.
    pub fn from_rustup(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.starts_with('-') {
            return Err(format!(
                "`{}` is not a toolchain name",
                name.escape_default()
            ));
        }
        let out = Command::new("rustup")
            .args(["which", "--toolchain", name, "rustc"])
            .output()
            .map_err(|e| format!("cannot run rustup to find toolchain `{name}`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "rustup does not know toolchain `{name}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let rustc = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let root = rustc
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| format!("rustup named {} for `{name}`", rustc.display()))?;
        Toolchain::from_dir(root)
    }

    /// The toolchain directory (its sysroot).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether rustc is a nightly (or locally built) one, so `--cfg docsrs`
    /// may be passed: crates gate nightly-only rustdoc features on it.
    pub fn is_nightly(&self) -> bool {
        self.nightly
    }
}
