//! Builds one published crate version's rustdoc, its own code confined in a
//! bubblewrap sandbox. A worker hands [`build`] a [`BuildSpec`]: the
//! `.crate` file, a [`Toolchain`], [`Limits`], a fresh work directory the
//! caller owns (and removes), and the [`DependencySource`] through which
//! dependencies come from Berth. It returns the `doc` directory ([`Built`])
//! or why not ([`BuildFailure`]), each with the tail of the build's log.
//!
//! This crate owns the build: the archive unpacked (`unpack.rs`, after
//! `berth-tarball` accepted it), the docs.rs metadata honoured
//! (`metadata.rs`), dependencies fetched (`source.rs` checks where from),
//! the sandbox's command line (`sandbox.rs`), each process bounded
//! (`run.rs`). It never queues, stores or serves documentation, never reads
//! Berth's configuration or data directory, and never runs the crate's code
//! (build scripts, proc macros, rustdoc's own run) outside the sandbox.
//!
//! Two phases. **Fetch**, on the host with the network: a private
//! `CARGO_HOME` holding the dependency source's configuration (its tokens
//! stay there), `cargo generate-lockfile` when the crate has no
//! `Cargo.lock`, then `cargo vendor`. Neither runs crate code; the manifest
//! is checked first so that cargo reaches only the sources the configuration
//! names (no `path`/`git` dependency, no `[patch]`, no other registry), and
//! the crate's own `.cargo/` is never unpacked. **Build**, in bubblewrap:
//! `cargo doc --no-deps --offline --locked` with the metadata's flags (and
//! `-p` for each direct dependency from this server's own registries, so
//! that the crate's pages link to theirs within the set), in new
//! user, PID, network, IPC, UTS, mount and cgroup namespaces with every
//! capability dropped and no user namespace creatable inside; what it sees
//! is listed in `sandbox.rs`. Every process (both phases) runs with
//! `RLIMIT_CPU`, `RLIMIT_AS`, `RLIMIT_FSIZE` and no core dumps, in its own
//! process group, killed whole at the wall-clock deadline (one deadline for
//! both phases); the target directory's size is watched every second.
//!
//! Threat model: the crate's author controls every byte of the archive and
//! so its build script, proc macros and rustdoc input. They must not reach
//! the network (no host network in the sandbox: loopback there is a new,
//! empty one), read or write host files beyond the crate, its vendored
//! dependencies and the target directory, see or signal other processes,
//! keep anything running after the build, or exhaust the host beyond the
//! limits. Not covered: a kernel escape (no seccomp filter; run the worker
//! as an unprivileged user where you can); fork bombs (`RLIMIT_NPROC` counts
//! per host user, and root ignores it: the wall limit ends them, a PID
//! cgroup would bound them); memory is bounded per process, not in total
//! (`Limits::jobs` processes at once); the host's `/usr` is readable inside,
//! so nothing secret belongs there. The work directory must not sit below a
//! directory holding a `Cargo.toml` or `.cargo/config.toml` (cargo reads
//! those of every ancestor in the fetch phase).
//!
//! Blocking: [`build`] waits for its processes; call it from a thread of
//! its own (`tokio::task::spawn_blocking`).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod metadata;
mod run;
mod sandbox;
mod source;
mod toolchain;
mod unpack;

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use metadata::{DocsMetadata, MetadataError};
pub use source::DependencySource;
pub use toolchain::Toolchain;

use run::{run, Ended, Tail};
use source::{check_manifest, own_registry_deps, ManifestRefusal};

/// Where bubblewrap is, unless a spec says otherwise (Debian's package).
pub const BWRAP: &str = "/usr/bin/bwrap";

/// The bounds of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds per process (`RLIMIT_CPU`: SIGXCPU then, SIGKILL 5 s
    /// later). Default 600.
    pub cpu_secs: u64,
    /// Wall-clock seconds for the whole build, fetch included. Default 900.
    pub wall_secs: u64,
    /// Address space per process (`RLIMIT_AS`). Default 4 GiB.
    pub memory_bytes: u64,
    /// Bytes the target directory may hold, and the largest file any
    /// process may write (`RLIMIT_FSIZE`). Default 1 GiB.
    pub output_bytes: u64,
    /// Bytes of log kept: the last ones. Default 1 MiB.
    pub log_bytes: u64,
    /// Jobs cargo runs at once (rustc, rustdoc, build scripts). Default 2.
    pub jobs: u32,
    /// The bounds the `.crate` file is read within.
    pub archive: berth_tarball::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_secs: 600,
            wall_secs: 900,
            memory_bytes: 4 << 30,
            output_bytes: 1 << 30,
            log_bytes: 1 << 20,
            jobs: 2,
            archive: berth_tarball::Limits::default(),
        }
    }
}

/// One build's input.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The version's `.crate` file.
    pub crate_file: PathBuf,
    pub name: String,
    pub version: String,
    pub toolchain: Toolchain,
    pub limits: Limits,
    /// A fresh, empty directory the caller owns and removes afterwards.
    pub work_dir: PathBuf,
    pub source: DependencySource,
    /// The bubblewrap binary ([`BWRAP`] by default).
    pub bwrap: PathBuf,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// `target/doc`, or `target/TRIPLE/doc` for a `default-target`, inside
    /// the work directory: `NAME/index.html`, the search index, the assets.
    pub doc_dir: PathBuf,
    /// What the build honoured.
    pub metadata: DocsMetadata,
    /// The end of the log (both phases, stdout and stderr interleaved).
    pub log: String,
    pub elapsed: Duration,
}

/// Why no documentation was built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    /// The archive or its manifest: refused before anything ran.
    #[error("the .crate file was refused before anything ran: {0}")]
    BadCrate(String),
    /// The fetch phase: the dependency source or cargo's resolution.
    #[error("fetching the dependencies failed: {0}")]
    Fetch(String),
    /// The sandbox could not be set up or started (the host's problem).
    #[error("the build sandbox could not run: {0}")]
    Sandbox(String),
    /// `cargo doc` failed inside the sandbox (the crate's problem).
    #[error("cargo doc failed ({}); the end of the log says why", exit_text(*.exit))]
    Failed { exit: Option<i32> },
    /// The wall-clock limit passed; every process of the build was killed.
    #[error("the build was still running after {secs} s of wall time and was killed")]
    TimedOut { secs: u64 },
    /// The target directory grew past the output limit.
    #[error("the build wrote {bytes} bytes, more than the {limit} allowed, and was stopped")]
    OutputTooLarge { bytes: u64, limit: u64 },
}

fn exit_text(exit: Option<i32>) -> String {
    match exit {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// A failed build: why, and the end of its log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}")]
pub struct BuildFailure {
    pub kind: FailureKind,
    pub log: String,
}

/// Builds the documentation of `spec`'s crate version. Blocking.
pub fn build(spec: &BuildSpec) -> Result<Built, BuildFailure> {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(spec.limits.wall_secs);
    let log = Tail::new(spec.limits.log_bytes);
    let fail = |kind: FailureKind| BuildFailure {
        log: {
            log.line(&kind.to_string());
            log.text()
        },
        kind,
    };
    log.line(&format!("documenting {} {}", spec.name, spec.version));
    let setup = |what: &str, e: std::io::Error| FailureKind::Sandbox(format!("{what}: {e}"));
    let work = spec
        .work_dir
        .canonicalize()
        .map_err(|e| fail(setup(&spec.work_dir.display().to_string(), e)))?;

    let (src, manifest) = unpack::unpack(
        &spec.crate_file,
        &spec.name,
        &spec.version,
        &spec.limits.archive,
        &work.join("crate"),
    )
    .map_err(|e| fail(FailureKind::BadCrate(e)))?;
    let metadata = DocsMetadata::from_manifest(&manifest)
        .map_err(|e| fail(FailureKind::BadCrate(e.to_string())))?;
    check_manifest(&manifest, &spec.source).map_err(|r| {
        fail(match r {
            ManifestRefusal::Config(m) => FailureKind::Fetch(m),
            ManifestRefusal::Crate(m) => FailureKind::BadCrate(m),
        })
    })?;
    log.line(&format!(
        "cargo doc flags: {}",
        metadata.cargo_flags().join(" ")
    ));

    let vendor = work.join("vendor");
    let sandbox_config = fetch(spec, &work, &src, &vendor, deadline, &log).map_err(&fail)?;
    let config_file = work.join("sandbox-cargo-config.toml");
    fs::write(&config_file, sandbox_config)
        .map_err(|e| fail(setup("writing the sandbox's cargo configuration", e)))?;
    let target = work.join("target");
    fs::create_dir_all(&target).map_err(|e| fail(setup("creating the target directory", e)))?;

    let mut rustdoc_args = metadata.rustdoc_args.clone();
    if spec.toolchain.is_nightly() {
        rustdoc_args.extend(["--cfg".to_owned(), "docsrs".to_owned()]);
    }
    let env = sandbox::environment(spec.limits.jobs, &rustdoc_args, &metadata.rustc_args);
    let mut args: Vec<String> = ["doc", "--no-deps", "--offline", "--locked"]
        .map(str::to_owned)
        .into();
    args.extend(metadata.cargo_flags());
    // The crate's own-registry dependencies documented beside it, first
    // (rustdoc links to a crate whose docs are already in the output
    // directory; cargo orders no doc run before another), then the crate.
    let lock = fs::read_to_string(src.join("Cargo.lock")).unwrap_or_default();
    let linked = own_registry_deps(&manifest, &lock, metadata.all_features);
    let mounts = sandbox::Mounts {
        toolchain: spec.toolchain.root(),
        src: &src,
        vendor: &vendor,
        target: &target,
        cargo_config: &config_file,
    };
    if !linked.is_empty() {
        log.line(&format!("documented beside it: {}", linked.join(" ")));
        // With the features the crate's resolution gives them (cargo
        // takes no feature flag for a package outside the workspace).
        let mut deps: Vec<String> = ["doc", "--no-deps", "--offline", "--locked"]
            .map(str::to_owned)
            .into();
        deps.extend(metadata.target.iter().map(|t| format!("--target={t}")));
        for dep in linked {
            deps.extend(["-p".to_owned(), dep]);
        }
        // Their failure costs the links only; a limit reached ends all.
        match sandboxed_doc(spec, &mounts, &env, &deps, deadline, &log) {
            Ok(()) => {}
            Err(FailureKind::Failed { .. }) => log.line(
                "documenting the dependencies failed: the crate is documented without links to them",
            ),
            Err(other) => return Err(fail(other)),
        }
    }
    sandboxed_doc(spec, &mounts, &env, &args, deadline, &log).map_err(&fail)?;
    let doc_dir = match &metadata.target {
        Some(t) => target.join(t).join("doc"),
        None => target.join("doc"),
    };
    if !doc_dir.is_dir() {
        return Err(fail(FailureKind::Failed { exit: Some(0) }));
    }
    log.line(&format!("documentation in {}", doc_dir.display()));
    Ok(Built {
        doc_dir,
        metadata,
        log: log.text(),
        elapsed: start.elapsed(),
    })
}

/// The fetch phase: a lockfile if the crate has none, then every dependency
/// vendored into `vendor`. Returns the configuration the sandbox's cargo
/// reads (the vendored sources at their path inside the sandbox).
/// One `cargo doc` run in the sandbox (phase 2), within the build's
/// deadline and output bound.
fn sandboxed_doc(
    spec: &BuildSpec,
    mounts: &sandbox::Mounts<'_>,
    env: &[(&str, String)],
    args: &[String],
    deadline: Instant,
    log: &Tail,
) -> Result<(), FailureKind> {
    let target = mounts.target;
    let cmd = sandbox::command(&spec.bwrap, mounts, env, args);
    log.line(&format!(
        "phase 2: cargo {} (in bubblewrap, no network)",
        args.join(" ")
    ));
    let (ended, _) = run(cmd, &spec.limits, deadline, Some(target), false, log).map_err(|e| {
        FailureKind::Sandbox(format!(
            "cannot start {}: {e} (is bubblewrap installed? apt-get install bubblewrap)",
            spec.bwrap.display()
        ))
    })?;
    let size = run::dir_size(target);
    if size > spec.limits.output_bytes {
        return Err(FailureKind::OutputTooLarge {
            bytes: size,
            limit: spec.limits.output_bytes,
        });
    }
    match ended {
        Ended::Exited(status) if status.success() => {}
        Ended::Exited(status) => {
            let text = log.text();
            // bubblewrap's own refusals come before cargo says anything.
            let after = text
                .rsplit("berth-docs: phase 2:")
                .next()
                .unwrap_or_default();
            let bwrap_line = after.lines().nth(1).filter(|l| l.starts_with("bwrap: "));
            return Err(match bwrap_line {
                Some(line) => FailureKind::Sandbox(line.to_owned()),
                None => FailureKind::Failed {
                    exit: status.code(),
                },
            });
        }
        Ended::TimedOut => {
            return Err(FailureKind::TimedOut {
                secs: spec.limits.wall_secs,
            })
        }
        Ended::OutputTooLarge(bytes) => {
            return Err(FailureKind::OutputTooLarge {
                bytes,
                limit: spec.limits.output_bytes,
            })
        }
    }
    Ok(())
}

fn fetch(
    spec: &BuildSpec,
    work: &Path,
    src: &Path,
    vendor: &Path,
    deadline: Instant,
    log: &Tail,
) -> Result<String, FailureKind> {
    let home = work.join("fetch-home");
    let setup = |what: &str, e: std::io::Error| FailureKind::Sandbox(format!("{what}: {e}"));
    fs::create_dir_all(&home).map_err(|e| setup("creating the fetch phase's CARGO_HOME", e))?;
    let mut config = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(home.join("config.toml"))
        .map_err(|e| setup("writing the fetch phase's cargo configuration", e))?;
    std::io::Write::write_all(&mut config, spec.source.cargo_config.as_bytes())
        .map_err(|e| setup("writing the fetch phase's cargo configuration", e))?;
    drop(config);

    let bin = spec.toolchain.root().join("bin");
    let cargo = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("cargo"));
        cmd.env_clear()
            .current_dir(src)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", &home)
            .env("CARGO_HOME", &home)
            .env("RUSTC", bin.join("rustc"))
            .env("RUSTDOC", bin.join("rustdoc"))
            .env("CARGO_TERM_COLOR", "never")
            .args(args);
        cmd
    };
    let step = |args: &[&str], capture: bool| -> Result<Vec<u8>, FailureKind> {
        log.line(&format!(
            "phase 1: cargo {} (on the host, fetching only)",
            args.join(" ")
        ));
        let (ended, out) =
            run(cargo(args), &spec.limits, deadline, None, capture, log).map_err(|e| {
                FailureKind::Sandbox(format!("cannot run {}: {e}", bin.join("cargo").display()))
            })?;
        match ended {
            Ended::Exited(s) if s.success() => Ok(out),
            Ended::Exited(s) => Err(FailureKind::Fetch(format!(
                "cargo {} failed ({}); the end of the log says why",
                args.first().copied().unwrap_or_default(),
                exit_text(s.code())
            ))),
            Ended::TimedOut => Err(FailureKind::TimedOut {
                secs: spec.limits.wall_secs,
            }),
            Ended::OutputTooLarge(bytes) => Err(FailureKind::OutputTooLarge {
                bytes,
                limit: spec.limits.output_bytes,
            }),
        }
    };
    if !src.join("Cargo.lock").exists() {
        step(&["generate-lockfile"], false)?;
    }
    let vendor_arg = vendor.to_string_lossy().into_owned();
    let printed = step(
        &[
            "vendor",
            "--respect-source-config",
            "--versioned-dirs",
            "--locked",
            &vendor_arg,
        ],
        true,
    )?;
    fs::create_dir_all(vendor).map_err(|e| setup("creating the vendor directory", e))?;
    Ok(sandbox_config(&String::from_utf8_lossy(&printed)))
}

/// The configuration `cargo vendor` printed, with the vendored directory
/// moved to where the sandbox mounts it; the plain replacement of
/// `crates-io` when it printed none (a crate without dependencies).
fn sandbox_config(printed: &str) -> String {
    let mut table: toml::Table = printed.parse().unwrap_or_default();
    let sources = table
        .entry("source")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(sources) = sources.as_table_mut() {
        sources.entry("crates-io").or_insert_with(|| {
            toml::Value::Table(toml::Table::from_iter([(
                "replace-with".to_owned(),
                "vendored-sources".into(),
            )]))
        });
        let mut vendored = toml::Table::new();
        vendored.insert("directory".to_owned(), sandbox::VENDOR.into());
        sources.insert("vendored-sources".to_owned(), toml::Value::Table(vendored));
    }
    table.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vendored_config_points_into_the_sandbox() {
        let printed = "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.\"sparse+http://127.0.0.1:1/r/p/index/\"]\nregistry = \"sparse+http://127.0.0.1:1/r/p/index/\"\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"/work/x/vendor\"\n";
        let config: toml::Table = sandbox_config(printed).parse().unwrap();
        let sources = config["source"].as_table().unwrap();
        assert_eq!(
            sources["vendored-sources"]["directory"].as_str(),
            Some("/build/vendor")
        );
        assert_eq!(
            sources["sparse+http://127.0.0.1:1/r/p/index/"]["replace-with"].as_str(),
            Some("vendored-sources")
        );
        let empty: toml::Table =
            sandbox_config("There is no dependency to vendor in this project.\n")
                .parse()
                .unwrap();
        assert_eq!(
            empty["source"]["crates-io"]["replace-with"].as_str(),
            Some("vendored-sources")
        );
    }

    #[test]
    fn failures_read_at_3_am() {
        assert_eq!(
            FailureKind::Failed { exit: Some(101) }.to_string(),
            "cargo doc failed (exit status 101); the end of the log says why"
        );
        assert_eq!(
            FailureKind::TimedOut { secs: 900 }.to_string(),
            "the build was still running after 900 s of wall time and was killed"
        );
    }
}
