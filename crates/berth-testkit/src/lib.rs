//! Berth's test kit, shared by every integration test and the benchmarks:
//! the one `.crate` builder ([`TarballBuilder`]), the one publish-body
//! builder ([`PublishBuilder`]), a fixture upstream registry ([`Fixture`]), a
//! fixture Rust toolchain dist server ([`RustDist`], with the real rustup
//! pointed at it: [`Rustup`]), the server harness ([`Server`] on
//! [`Stores`] of either backend pair, users and tokens through the CLI,
//! SIGKILL and restart), cargo homes ([`Cargo`]), and HTTP helpers with the
//! redactions whole-body snapshots need.
//!
//! Dev-only (`publish = false`): it may panic on any failure it cannot
//! report better, since a panic fails the test that called it. It must never
//! link the server's crates: tests drive the real binary, as an operator
//! does, and wire formats come from `berth-protocol` alone.

pub mod advisories;
pub mod attack;
pub mod cargo;
pub mod http;
pub mod ldap;
pub mod oidc;
pub mod publish;
pub mod rustdist;
pub mod server;
pub mod stores;
pub mod tarball;
pub mod upstream;
pub mod webhook;

pub use advisories::{write_advisory_db, AdvisoryFile};
pub use attack::{
    assert_cut_off, connect_from, connect_with_window, feed_through_fifo, http_from, noise,
    read_until_closed, stalled_readers, Bystander, Fed,
};
pub use berth_protocol::index_path;
pub use cargo::Cargo;
pub use http::{
    http, http_with_timeout, publish_raw, redact, redact_json, redact_number, redact_request_ids,
    send, sha256_hex, Reply,
};
pub use ldap::TestDirectory;
pub use oidc::{SigningKey, TestIssuer};
pub use publish::{dependency, PublishBuilder, DEFAULT_LIB};
pub use rustdist::{default_dist_server, Release, RustDist, Rustup};
pub use server::{listening_url, Launch, Server, Startup};
pub use stores::{backend, berth_bin, run_ok, Backend, Stores};
pub use tarball::{crate_file, gzip, manifest, Compression, EntryType, Header, TarballBuilder};
pub use upstream::{Answer, Fixture, Mode};
pub use webhook::{Received, Receiver};

/// The lines of an index file as JSON (fails the test unless it is served).
pub fn index_lines(server: &Server, registry: &str, path: &str) -> Vec<serde_json::Value> {
    let r = server.get(&format!("/r/{registry}/index/{path}"));
    assert!(r.status().is_success(), "index {path}: {}", r.status());
    r.text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
