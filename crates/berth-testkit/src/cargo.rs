//! Cargo homes: the real `cargo` with its own CARGO_HOME, target and work
//! dirs, a config naming the registries under test, and their tokens. Nothing
//! of the caller's cargo configuration or `CARGO_REGISTR*` variables leaks in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::server::Server;

/// A cargo environment: its own CARGO_HOME, target dir and work dir.
pub struct Cargo {
    pub home: TempDir,
    pub work: TempDir,
    pub target: PathBuf,
    /// Tokens by registry name, passed as `CARGO_REGISTRIES_{NAME}_TOKEN`.
    tokens: BTreeMap<String, String>,
}

impl Cargo {
    /// A CARGO_HOME whose config names the server's `main` registry.
    pub fn new(server: &Server) -> Cargo {
        Self::with_registries(&[("main", server.index_url("main"))], "")
    }

    /// A CARGO_HOME whose config names these registries (with the token
    /// credential provider) and ends with the `extra` config lines.
    pub fn with_registries(registries: &[(&str, String)], extra: &str) -> Cargo {
        let home = tempfile::Builder::new()
            .prefix("cargo-home-")
            .tempdir()
            .unwrap();
        let work = tempfile::Builder::new()
            .prefix("cargo-work-")
            .tempdir()
            .unwrap();
        let mut config = String::new();
        for (name, url) in registries {
            config.push_str(&format!(
                "[registries.{name}]\nindex = \"{url}\"\ncredential-provider = [\"cargo:token\"]\n\n"
            ));
        }
        config.push_str("[net]\nretry = 0\n\n[term]\ncolor = \"never\"\n");
        config.push_str(extra);
        std::fs::write(home.path().join("config.toml"), config).unwrap();
        let target = work.path().join("target");
        Cargo {
            home,
            work,
            target,
            tokens: BTreeMap::new(),
        }
    }

    /// A CARGO_HOME whose public source is replaced by the registry at
    /// `index_url` (a `sparse+` URL): what a proxy's users configure.
    pub fn mirroring(index_url: &str) -> Cargo {
        Cargo::with_registries(
            &[],
            &format!(
                "\n[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"{index_url}\"\n"
            ),
        )
    }

    /// Uses this token for the `main` registry.
    pub fn with_token(mut self, token: &str) -> Self {
        self.set_token(Some(token));
        self
    }

    /// A cargo home for a new user of `server` (added through the CLI),
    /// with a token of theirs for `main`.
    pub fn for_new_user(server: &Server, login: &str) -> Cargo {
        Self::new(server).with_token(&server.user_with_token(login))
    }

    /// Sets or clears the token of the `main` registry.
    pub fn set_token(&mut self, token: Option<&str>) {
        self.set_registry_token("main", token);
    }

    /// Sets or clears the token of a registry.
    pub fn set_registry_token(&mut self, registry: &str, token: Option<&str>) {
        match token {
            Some(t) => self.tokens.insert(registry.to_string(), t.to_string()),
            None => self.tokens.remove(registry),
        };
    }

    /// A `cargo` command in `dir` with this environment.
    pub fn cmd(&self, dir: &Path, args: &[&str]) -> Command {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(dir)
            .args(args)
            .env("CARGO_HOME", self.home.path())
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_HTTP_TIMEOUT", "60")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_REGISTRIES_") || k.starts_with("CARGO_REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        for (registry, token) in &self.tokens {
            let var = format!(
                "CARGO_REGISTRIES_{}_TOKEN",
                registry.to_ascii_uppercase().replace('-', "_")
            );
            cmd.env(var, token);
        }
        cmd
    }

    /// Runs cargo and returns its output.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir, args).output().expect("run cargo")
    }

    /// Runs cargo; whether it succeeded, and its stdout then stderr.
    fn run_text(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let out = self.run(dir, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Runs cargo and fails the test (showing its output) unless it succeeds;
    /// returns stdout and stderr.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (success, text) = self.run_text(dir, args);
        assert!(
            success,
            "cargo {args:?} failed in {}:\n{text}",
            dir.display()
        );
        text
    }

    /// Runs cargo and fails the test unless it fails; returns stdout and
    /// stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let (success, text) = self.run_text(dir, args);
        assert!(!success, "cargo {args:?} should have failed:\n{text}");
        text
    }

    /// Creates `dir_name` (and its `src/`) under the work dir with this
    /// `Cargo.toml`; returns the directory.
    pub fn manifest(&self, dir_name: &str, cargo_toml: &str) -> PathBuf {
        let dir = self.work.path().join(dir_name);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), cargo_toml).unwrap();
        dir
    }

    /// Writes a package under the work dir and returns its directory.
    /// `deps` is the body of `[dependencies]`; `extra` is appended verbatim.
    pub fn package(&self, name: &str, version: &str, deps: &str, extra: &str) -> PathBuf {
        let dir = self.manifest(
            &format!("{name}-{version}"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 description = \"The {name} crate\"\nlicense = \"MIT\"\npublish = [\"main\"]\n\n\
                 [dependencies]\n{deps}\n{extra}"
            ),
        );
        let lib = dir.join("src/lib.rs");
        if !lib.exists() {
            std::fs::write(
                lib,
                format!("pub fn name() -> &'static str {{ \"{name} {version}\" }}\n"),
            )
            .unwrap();
        }
        dir
    }

    /// Writes a binary package (`publish = false`, an empty `main`) under the
    /// work dir with this `[dependencies]` body; returns its directory.
    pub fn consumer(&self, name: &str, deps: &str) -> PathBuf {
        let dir = self.manifest(
            name,
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps}\n"
            ),
        );
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        dir
    }

    /// Publishes the package in `dir` to `main` without rebuilding it.
    pub fn publish(&self, dir: &Path) -> String {
        self.publish_to(dir, "main")
    }

    /// Publishes the package in `dir` to `registry` without rebuilding it;
    /// fails the test unless cargo succeeds.
    pub fn publish_to(&self, dir: &Path, registry: &str) -> String {
        self.ok(dir, &publish_args(registry))
    }

    /// Tries to publish the package in `dir` to `registry` without
    /// rebuilding it; fails the test unless cargo fails. Cargo's output.
    pub fn publish_refused(&self, dir: &Path, registry: &str) -> String {
        self.fails(dir, &publish_args(registry))
    }

    /// Writes a library package without dependencies and publishes it to
    /// `main`; returns its directory.
    pub fn published(&self, name: &str, version: &str) -> PathBuf {
        let dir = self.package(name, version, "", "");
        self.publish(&dir);
        dir
    }
}

/// `cargo publish` to `registry`, without the verification build.
fn publish_args(registry: &str) -> [&str; 5] {
    [
        "publish",
        "--registry",
        registry,
        "--no-verify",
        "--allow-dirty",
    ]
}
