//! End to end: a real `berth serve` driven by the real `cargo`.

mod common;

use common::{index_lines, sha256_hex, Cargo, Server};

#[test]
fn publish_depend_build_and_run() {
    let server = Server::start();
    let token = server.user_with_token("alice");
    let cargo = Cargo::new(&server).with_token(&token);

    let alpha = cargo.package("alpha", "1.0.0", "", "");
    cargo.publish(&alpha);
    let beta = cargo.package("beta", "0.2.0", "alpha = { version = \"1\", registry = \"main\" }", "");
    std::fs::write(
        beta.join("src/lib.rs"),
        "pub fn greet() -> String { format!(\"beta uses {}\", alpha::name()) }\n",
    )
    .unwrap();
    // Full publish, with cargo's own verification build against the registry.
    cargo.ok(&beta, &["publish", "--registry", "main", "--allow-dirty"]);

    let app = cargo.work.path().join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nalpha = { version = \"1\", registry = \"main\" }\nbeta = { version = \"0.2\", registry = \"main\" }\n",
    )
    .unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"{} / {}\", alpha::name(), beta::greet()); }\n",
    )
    .unwrap();
    let out = cargo.ok(&app, &["run", "-q"]);
    assert!(out.contains("alpha 1.0.0 / beta uses alpha 1.0.0"), "{out}");

    // The lock file's checksums are the sha256 of the .crate files served.
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    for (name, vers, path) in [("alpha", "1.0.0", "al/ph/alpha"), ("beta", "0.2.0", "be/ta/beta")] {
        let bytes = server
            .get(&format!("/r/main/api/v1/crates/{name}/{vers}/download"))
            .bytes()
            .unwrap();
        let sum = sha256_hex(&bytes);
        assert!(lock.contains(&format!("checksum = \"{sum}\"")), "{name}: {sum} not in\n{lock}");
        let lines = index_lines(&server, "main", path);
        assert_eq!(lines[0]["cksum"], sum.as_str());
    }
}
