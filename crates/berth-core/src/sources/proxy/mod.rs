//! A proxy registry: a pull-through cache of an upstream sparse registry.
//!
//! Index files are fetched on demand, kept in `proxy_index` with the
//! upstream's validators, trusted for `index_ttl_secs`, then revalidated with
//! a conditional request; lines pass through untouched. A `.crate` is
//! fetched at most once, verified against the checksum of the upstream
//! index before it is stored or served, and then served from the blob store
//! like a hosted crate. Concurrent misses for one file wait on one upstream
//! request. When the upstream fails, what is cached keeps being served
//! (counted as stale); what is not fails fast with a 502 that says why.
//!
//! The proxy contacts its upstream's host and the operator's
//! `upstream_allowed_hosts` at any address, and other hosts an upstream
//! names (a download host, a redirect) only at public addresses
//! (`reach.rs`): a redirect or `dl` to an internal address is not
//! followed, and nothing another host says is echoed.
//!
//! An index body is read only after it has its share
//! of `limits.proxy_index_buffer_bytes` (over all proxies), and at most
//! `limits.max_index_file_bytes` of it; it is parsed and stored without
//! copies.
//!
//! This module never writes a hosted registry's rows, never serves bytes it
//! has not verified itself (a blob another registry stored is reused only
//! when this proxy's own records name it), and never logs the upstream
//! token.
//!
//! The files, each over the ones before it: `error.rs` (the upstream error
//! and its one conversion to a `ServiceError`), `budget.rs` (the index
//! memory budget), `state.rs` (the `Proxy` and its memo), `client.rs`
//! (contacting the upstream), `body.rs` (reading its answers),
//! `upstream_config.rs` (its `config.json`), `index.rs` (index files,
//! revalidation, stale serving, search), `crates.rs` (`.crate` files,
//! reuse, eviction) and `feed.rs` (an upstream Berth's change feed, which
//! `berth mirror fill --all` walks). This file only names them.

mod body;
mod budget;
mod client;
mod crates;
mod error;
mod feed;
mod index;
mod state;
mod upstream_config;

pub(crate) use budget::IndexBudget;
pub(crate) use state::Proxy;
