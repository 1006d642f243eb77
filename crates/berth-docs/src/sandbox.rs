//! The bubblewrap command line of the build phase: what the sandbox sees
//! and the environment `cargo doc` runs in. Everything not listed here is
//! absent inside: no host home, no data directory, no configuration of
//! Berth, no network (a new, empty network namespace), no other process.
//!
//! Inside the sandbox: `/usr` and the `/bin`, `/lib*`, `/sbin` links or
//! directories as on the host, read-only; from `/etc` only what the dynamic
//! linker and the C compiler's alternatives need plus `passwd`/`group`;
//! `/toolchain` (the toolchain, read-only), `/build/src` (the unpacked crate,
//! read-only), `/build/vendor` (its dependencies, read-only), `/build/target`
//! (the one writable host directory), a private `/tmp` (tmpfs, bounded)
//! holding `HOME` and a `CARGO_HOME` whose only file is the vendored-source
//! configuration, a private `/proc` and a minimal `/dev`.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// Paths inside the sandbox.
pub(crate) const TOOLCHAIN: &str = "/toolchain";
pub(crate) const SRC: &str = "/build/src";
pub(crate) const VENDOR: &str = "/build/vendor";
pub(crate) const TARGET: &str = "/build/target";
const TMP_BYTES: u64 = 256 * 1024 * 1024;

/// The host directories the sandbox is given.
pub(crate) struct Mounts<'a> {
    pub(crate) toolchain: &'a Path,
    pub(crate) src: &'a Path,
    pub(crate) vendor: &'a Path,
    pub(crate) target: &'a Path,
    /// The vendored-source cargo configuration file.
    pub(crate) cargo_config: &'a Path,
}

/// `bwrap ... -- /toolchain/bin/cargo ARGS` with the environment `env`
/// (and nothing else of ours).
pub(crate) fn command(
    bwrap: &Path,
    mounts: &Mounts<'_>,
    env: &[(&str, String)],
    cargo_args: &[String],
) -> Command {
    let mut cmd = Command::new(bwrap);
    cmd.env_clear();
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&dyn AsRef<std::ffi::OsStr>]| {
        args.extend(items.iter().map(|i| i.as_ref().to_os_string()));
    };
    push(&[
        &"--unshare-all",
        &"--unshare-user",
        &"--disable-userns",
        &"--die-with-parent",
        &"--new-session",
        &"--cap-drop",
        &"ALL",
        &"--clearenv",
        &"--ro-bind",
        &"/usr",
        &"/usr",
    ]);
    for top in ["/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"] {
        match std::fs::read_link(top) {
            Ok(to) => push(&[&"--symlink", &to, &top]),
            Err(_) if Path::new(top).is_dir() => push(&[&"--ro-bind", &top, &top]),
            Err(_) => {}
        }
    }
    for etc in [
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/alternatives",
        "/etc/passwd",
        "/etc/group",
    ] {
        push(&[&"--ro-bind-try", &etc, &etc]);
    }
    let tmp_size = TMP_BYTES.to_string();
    push(&[
        &"--proc",
        &"/proc",
        &"--dev",
        &"/dev",
        &"--size",
        &tmp_size,
        &"--tmpfs",
        &"/tmp",
        &"--dir",
        &"/tmp/home",
        &"--ro-bind",
        &mounts.cargo_config,
        &"/tmp/cargo-home/config.toml",
        &"--ro-bind",
        &mounts.toolchain,
        &TOOLCHAIN,
        &"--ro-bind",
        &mounts.src,
        &SRC,
        &"--ro-bind",
        &mounts.vendor,
        &VENDOR,
        &"--bind",
        &mounts.target,
        &TARGET,
        &"--remount-ro",
        &"/",
        &"--chdir",
        &SRC,
    ]);
    for (key, value) in env {
        push(&[&"--setenv", key, value]);
    }
    push(&[&"--", &format!("{TOOLCHAIN}/bin/cargo")]);
    args.extend(cargo_args.iter().map(OsString::from));
    cmd.args(args);
    cmd
}

/// The environment cargo runs with inside: only this.
pub(crate) fn environment(
    jobs: u32,
    rustdoc_args: &[String],
    rustc_args: &[String],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PATH", format!("{TOOLCHAIN}/bin:/usr/bin:/bin")),
        ("HOME", "/tmp/home".to_owned()),
        ("TMPDIR", "/tmp".to_owned()),
        ("CARGO_HOME", "/tmp/cargo-home".to_owned()),
        ("CARGO_TARGET_DIR", TARGET.to_owned()),
        ("CARGO_BUILD_JOBS", jobs.max(1).to_string()),
        ("CARGO_TERM_COLOR", "never".to_owned()),
        ("CARGO_INCREMENTAL", "0".to_owned()),
        ("RUSTC", format!("{TOOLCHAIN}/bin/rustc")),
        ("RUSTDOC", format!("{TOOLCHAIN}/bin/rustdoc")),
        ("CARGO_ENCODED_RUSTDOCFLAGS", rustdoc_args.join("\u{1f}")),
    ];
    if !rustc_args.is_empty() {
        env.push(("CARGO_ENCODED_RUSTFLAGS", rustc_args.join("\u{1f}")));
    }
    env
}
