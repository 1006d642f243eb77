//! Real builds of generated crates with the machine's toolchain, in the real
//! bubblewrap: documentation built, docs.rs metadata honoured, a dependency
//! fetched and then built offline, and a build script's attacks (network,
//! host writes, host reads, never ending, CPU) failing inside the sandbox
//! while the host stays untouched. bubblewrap missing is a failure, never a
//! skip.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_docs::{
    build, BuildFailure, BuildSpec, Built, DependencySource, FailureKind, Limits, Toolchain, BWRAP,
};
use flate2::write::GzEncoder;
use flate2::Compression;

/// The machine's default toolchain, by its sysroot.
fn toolchain() -> Toolchain {
    let out = Command::new("rustup")
        .args(["which", "rustc"])
        .output()
        .expect("rustup which rustc");
    let rustc = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    Toolchain::from_dir(rustc.parent().unwrap().parent().unwrap()).unwrap()
}

fn bwrap() -> PathBuf {
    let path = PathBuf::from(BWRAP);
    assert!(
        path.is_file(),
        "bubblewrap is not installed at {BWRAP}: these tests need it (apt-get install bubblewrap); they never skip"
    );
    path
}

/// A `.crate` file (gzip tar under `NAME-VERSION/`) of the given files.
fn crate_file(dir: &Path, name: &str, version: &str, files: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(format!("{name}-{version}.crate"));
    let mut tar = tar::Builder::new(GzEncoder::new(
        fs::File::create(&path).unwrap(),
        Compression::fast(),
    ));
    for (file, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("{name}-{version}/{file}"),
            text.as_bytes(),
        )
        .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

fn manifest(name: &str, extra: &str) -> String {
    format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n{extra}")
}

struct Case {
    dir: tempfile::TempDir,
    spec: BuildSpec,
}

/// A build of `name` 0.1.0 made of `files` (Cargo.toml included).
fn case(name: &str, files: &[(&str, &str)]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let crate_file = crate_file(dir.path(), name, "0.1.0", files);
    let work_dir = dir.path().join("work");
    fs::create_dir(&work_dir).unwrap();
    let limits = Limits {
        jobs: 1,
        wall_secs: 120,
        ..Limits::default()
    };
    let spec = BuildSpec {
        crate_file,
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        toolchain: toolchain(),
        limits,
        work_dir,
        source: DependencySource::default(),
        bwrap: bwrap(),
    };
    Case { dir, spec }
}

fn built(case: &Case) -> Built {
    build(&case.spec).unwrap_or_else(|f| panic!("{f}\n{}", f.log))
}

fn failed(case: &Case) -> BuildFailure {
    match build(&case.spec) {
        Ok(b) => panic!("the build succeeded:\n{}", b.log),
        Err(f) => f,
    }
}

fn index_html(built: &Built, name: &str) -> String {
    fs::read_to_string(built.doc_dir.join(name).join("index.html")).unwrap()
}

#[test]
fn a_documented_crate_builds_with_its_search_index() {
    let toml = manifest("moorings", "");
    let case = case(
        "moorings",
        &[
            ("Cargo.toml", &toml),
            (
                "src/lib.rs",
                "/// Ties the boat up.\npub fn moor_the_boat() {}\n",
            ),
            // Never unpacked: cargo would read it (and fail every build).
            (
                ".cargo/config.toml",
                "[build]\ntarget = \"no-such-target\"\n",
            ),
        ],
    );
    let built = built(&case);
    assert!(!case
        .spec
        .work_dir
        .join("crate/moorings-0.1.0/.cargo")
        .exists());
    assert!(
        index_html(&built, "moorings").contains("moor_the_boat"),
        "{}",
        built.log
    );
    let search = fs::read_dir(&built.doc_dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("search"));
    assert!(search, "no search index in {}", built.doc_dir.display());
    assert!(built.log.contains("--all-features"), "{}", built.log);
    // The rustup name resolves to the same toolchain directory.
    let stable = Toolchain::from_rustup("stable").unwrap();
    assert!(stable.root().join("bin/rustdoc").is_file());
}

const FEATURED_LIB: &str = "#[cfg(feature = \"extra\")]\npub fn extra_item() {}\n#[cfg(feature = \"other\")]\npub fn other_item() {}\npub fn always() {}\n";

#[test]
fn docs_rs_features_are_honoured() {
    let features = "[features]\nextra = []\nother = []\n";
    let chosen = manifest(
        "chosen",
        &format!("{features}\n[package.metadata.docs.rs]\nfeatures = [\"extra\"]\n"),
    );
    let case_chosen = case(
        "chosen",
        &[("Cargo.toml", &chosen), ("src/lib.rs", FEATURED_LIB)],
    );
    let html = index_html(&built(&case_chosen), "chosen");
    assert!(
        html.contains("extra_item") && !html.contains("other_item"),
        "{html}"
    );

    let all = manifest("every", features);
    let case_all = case(
        "every",
        &[("Cargo.toml", &all), ("src/lib.rs", FEATURED_LIB)],
    );
    let html = index_html(&built(&case_all), "every");
    assert!(
        html.contains("extra_item") && html.contains("other_item"),
        "{html}"
    );
}

#[test]
fn a_dependency_is_fetched_then_built_offline() {
    // A directory source standing in for Berth: one crate, `anchor` 1.0.0.
    let registry = tempfile::tempdir().unwrap();
    let anchor = registry.path().join("anchor-1.0.0");
    fs::create_dir_all(anchor.join("src")).unwrap();
    fs::write(
        anchor.join("Cargo.toml"),
        "[package]\nname = \"anchor\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    fs::write(
        anchor.join("src/lib.rs"),
        "/// Drops anchor.\npub fn drop_anchor() {}\n",
    )
    .unwrap();
    fs::write(
        anchor.join(".cargo-checksum.json"),
        format!("{{\"files\":{{}},\"package\":\"{}\"}}", "ab".repeat(32)),
    )
    .unwrap();

    let toml = manifest("harbour", "[dependencies]\nanchor = \"1\"\n");
    let mut case = case(
        "harbour",
        &[
            ("Cargo.toml", &toml),
            ("src/lib.rs", "pub use anchor::drop_anchor;\n"),
        ],
    );
    case.spec.source = DependencySource {
        cargo_config: format!(
            "[source.crates-io]\nreplace-with = \"fixture\"\n\n[source.fixture]\ndirectory = \"{}\"\n",
            registry.path().display()
        ),
    };
    let built = built(&case);
    assert!(
        index_html(&built, "harbour").contains("drop_anchor"),
        "{}",
        built.log
    );
    assert!(case
        .spec
        .work_dir
        .join("vendor/anchor-1.0.0/src/lib.rs")
        .is_file());
    // --no-deps: the dependency was compiled, not documented.
    assert!(!built.doc_dir.join("anchor").exists());
}

/// A crate whose build script runs `body` (inside `fn main`).
fn attacker(name: &str, body: &str) -> Case {
    let toml = manifest(name, "build = \"build.rs\"\n");
    let script = format!("fn main() {{\n{body}\n}}\n");
    case(
        name,
        &[
            ("Cargo.toml", &toml),
            ("build.rs", &script),
            ("src/lib.rs", "pub fn f() {}\n"),
        ],
    )
}

#[test]
fn a_build_script_cannot_reach_the_hosts_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let case = attacker(
        "caller",
        &format!("std::net::TcpStream::connect(\"127.0.0.1:{port}\").expect(\"CONNECT REFUSED BY SANDBOX\");"),
    );
    let failure = failed(&case);
    assert!(
        matches!(failure.kind, FailureKind::Failed { .. }),
        "{failure}\n{}",
        failure.log
    );
    assert!(
        failure.log.contains("CONNECT REFUSED BY SANDBOX"),
        "{}",
        failure.log
    );
    assert!(
        failure.log.contains("Network is unreachable")
            || failure.log.contains("Connection refused"),
        "{}",
        failure.log
    );
    assert!(listener.accept().is_err(), "the listener saw a connection");
}

#[test]
fn a_build_script_cannot_write_to_the_host() {
    let host = tempfile::tempdir().unwrap();
    let escaped = host.path().join("escaped.txt");
    let case = attacker(
        "writer",
        &format!(
            "std::fs::write({:?}, \"owned\").expect(\"WRITE REFUSED BY SANDBOX\");",
            escaped.display().to_string()
        ),
    );
    let failure = failed(&case);
    assert!(
        failure.log.contains("WRITE REFUSED BY SANDBOX"),
        "{}",
        failure.log
    );
    assert!(
        !escaped.exists(),
        "the build script wrote {}",
        escaped.display()
    );
}

#[test]
fn a_build_script_cannot_read_the_data_dir_or_the_fetch_tokens() {
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("berth.sqlite");
    fs::write(&secret, "server data").unwrap();
    let mut case = attacker("reader", "");
    let fetch_config = case.spec.work_dir.join("fetch-home/config.toml");
    case.spec.source = DependencySource {
        cargo_config: "[registries.private]\nindex = \"sparse+http://127.0.0.1:9/r/private/index/\"\ntoken = \"secret-token\"\n".to_owned(),
    };
    let script = format!(
        "for path in [{:?}, {:?}] {{\n  match std::fs::read_to_string(path) {{\n    Ok(text) => panic!(\"READ {{path}}: {{text}}\"),\n    Err(e) => eprintln!(\"cannot read {{path}}: {{e}}\"),\n  }}\n}}\npanic!(\"READS REFUSED BY SANDBOX\");",
        secret.display().to_string(),
        fetch_config.display().to_string()
    );
    fs::write(
        &case.spec.crate_file,
        fs::read(crate_file(
            case.dir.path(),
            "reader",
            "0.1.0",
            &[
                ("Cargo.toml", &manifest("reader", "build = \"build.rs\"\n")),
                ("build.rs", &format!("fn main() {{\n{script}\n}}\n")),
                ("src/lib.rs", ""),
            ],
        ))
        .unwrap(),
    )
    .unwrap();
    let failure = failed(&case);
    assert!(
        failure.log.contains("READS REFUSED BY SANDBOX"),
        "{}",
        failure.log
    );
    assert!(
        !failure.log.contains("server data") && !failure.log.contains("secret-token"),
        "{}",
        failure.log
    );
    assert!(
        fetch_config.is_file(),
        "the fetch phase's configuration is where the script looked"
    );
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn a_build_that_never_ends_is_killed_whole_at_the_wall_limit() {
    let mut case = attacker(
        "sleeper",
        "std::process::Command::new(\"sleep\").arg(\"4242.5\").spawn().unwrap();\nloop { std::thread::sleep(std::time::Duration::from_secs(1)); }",
    );
    case.spec.limits.wall_secs = 20;
    case.spec.limits.cpu_secs = 10;
    let start = Instant::now();
    let failure = failed(&case);
    let took = start.elapsed();
    assert_eq!(
        failure.kind,
        FailureKind::TimedOut { secs: 20 },
        "{}",
        failure.log
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(
        failure.to_string().contains("20 s of wall time"),
        "{failure}"
    );
    // The build script and the process it started are gone.
    let left = processes_with("4242.5");
    let left_scripts: Vec<_> = processes_with("build-script-build")
        .into_iter()
        .filter(|p| p.contains("sleeper"))
        .collect();
    assert!(
        left.is_empty() && left_scripts.is_empty(),
        "left running: {left:?} {left_scripts:?}"
    );
}

#[test]
fn a_build_script_spinning_the_cpu_is_stopped_by_its_cpu_limit() {
    let mut case = attacker(
        "spinner",
        "let mut x: u64 = 0;\nloop { x = std::hint::black_box(x.wrapping_add(1)); }",
    );
    case.spec.limits.cpu_secs = 2;
    let failure = failed(&case);
    assert!(
        matches!(failure.kind, FailureKind::Failed { .. }),
        "{failure}\n{}",
        failure.log
    );
    assert!(
        failure.log.contains("SIGXCPU") || failure.log.contains("signal: 24"),
        "{}",
        failure.log
    );
}

#[test]
fn a_crate_with_a_path_outside_its_root_is_refused_before_anything_runs() {
    let case = case(
        "honest",
        &[("Cargo.toml", &manifest("honest", "")), ("src/lib.rs", "")],
    );
    // An entry `honest-0.1.0/../escaped.rs`, written header by header (tar
    // builders refuse to make one).
    let mut raw = Vec::new();
    for (path, data) in [
        ("honest-0.1.0/Cargo.toml", manifest("honest", "")),
        ("honest-0.1.0/../escaped.rs", "fn main() {}".to_owned()),
    ] {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        raw.extend_from_slice(header.as_bytes());
        raw.extend_from_slice(data.as_bytes());
        raw.resize(raw.len().div_ceil(512) * 512, 0);
    }
    raw.resize(raw.len() + 1024, 0);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&raw).unwrap();
    fs::write(&case.spec.crate_file, gz.finish().unwrap()).unwrap();

    let failure = failed(&case);
    assert!(
        matches!(&failure.kind, FailureKind::BadCrate(m) if m.contains("outside")),
        "{failure}"
    );
    assert!(!failure.log.contains("phase 1"), "{}", failure.log);
    assert!(
        !case.spec.work_dir.join("escaped.rs").exists()
            && !case.dir.path().join("escaped.rs").exists()
    );
    assert_eq!(
        fs::read_dir(&case.spec.work_dir).unwrap().count(),
        0,
        "nothing was unpacked"
    );
}

#[test]
fn a_build_writing_too_much_is_stopped() {
    let mut case = attacker(
        "filler",
        "let out = std::env::var(\"OUT_DIR\").unwrap();\nfor i in 0..64 {\n  std::fs::write(format!(\"{out}/fill{i}\"), vec![7u8; 2 << 20]).unwrap();\n  std::thread::sleep(std::time::Duration::from_millis(100));\n}",
    );
    case.spec.limits.output_bytes = 48 << 20;
    let failure = failed(&case);
    assert!(
        matches!(failure.kind, FailureKind::OutputTooLarge { limit, .. } if limit == 48 << 20),
        "{failure}\n{}",
        failure.log
    );
}

#[test]
fn a_missing_bubblewrap_is_the_hosts_problem_and_says_what_to_install() {
    let mut case = case(
        "lonely",
        &[("Cargo.toml", &manifest("lonely", "")), ("src/lib.rs", "")],
    );
    case.spec.bwrap = case.dir.path().join("no-bwrap-here");
    let failure = failed(&case);
    assert!(
        matches!(&failure.kind, FailureKind::Sandbox(m) if m.contains("apt-get install bubblewrap")),
        "{failure}"
    );
}
