//! A toolchains registry: a mirror of a Rust toolchain distribution server
//! in rustup's layout, served at `/t/NAME/`, so that
//! `RUSTUP_DIST_SERVER=https://HOST/t/NAME` makes stock rustup install and
//! update from it.
//!
//! Channel manifests (`dist/channel-rust-CHANNEL.toml` and its `.sha256`,
//! and the dated `dist/DATE/…` ones) are fetched on demand, checked against
//! their `.sha256` and kept byte for byte in `proxy_index` under their dist
//! path; an undated pair is trusted for `manifest_ttl_secs` and then
//! revalidated (the `.sha256` first: when it is unchanged the manifest is
//! not fetched again), a dated pair never changes. A pinned channel
//! (`pin = { stable = "DATE" }`) answers with that date's pair. Component
//! archives are fetched at most once, verified against the sha256 a held
//! manifest gives for their path before they are stored in the blob store
//! (`proxy_crates` records which this registry holds), and served from the
//! blob store; concurrent misses of one file make one upstream request
//! (`flight.rs`). When the upstream fails, what is held keeps being served.
//!
//! The archive URLs inside a manifest are not rewritten: rustup swaps its
//! own default dist server's prefix for `RUSTUP_DIST_SERVER`, so a mirror
//! works for clients when the upstream's manifests name that default
//! server, as the upstream's own do. This registry fetches an archive from
//! `upstream` plus the path rustup asks for.
//!
//! This module never answers crate questions (index, publish, search: the
//! `Source` refuses them with a message naming `/t/NAME`), never decides
//! who may ask (`Berth::toolchain_file` authorizes first), never serves an
//! archive it has not verified, and never rewrites a manifest.
//!
//! The files: `settings.rs` (the `[[registries]]` keys, checked),
//! `paths.rs` (pure: what a request path names, which channels are
//! served, the hashes a manifest gives), `state.rs` (the registry's state
//! and its upstream fetches), `serve.rs` (the `Berth` method the server
//! calls).

mod paths;
mod serve;
mod settings;
mod state;

pub use serve::{ToolchainBody, ToolchainFile};
pub use settings::ToolchainsConfig;
pub(crate) use state::Toolchains;
