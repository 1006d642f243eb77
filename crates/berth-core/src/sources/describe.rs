//! What kinds differ in, asked by the services and pages around them:
//! where a publish, yank or owner change goes, the cargo configuration
//! that points at a registry, a kind's traits as the pages show them, its
//! members, and which registry a crate page reads (and its index file as
//! stored). Each answer is decided
//! here, by kind, so that nothing outside `sources` matches on the kind.

use std::sync::Arc;

use super::proxy::Proxy;
use super::question::{Answer, At, Found};
use super::replica::Replica;
use super::source::Source;
use super::toolchains::Toolchains;
use super::virtual_registry::Virtual;
use crate::crates::index::IndexFile;
use crate::error::ServiceError;
use crate::{Berth, Registry};

/// What a registry's kind is, as the pages and the command line show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindTraits {
    /// Crates are published to it and kept in its own rows (publish
    /// metadata, owners, counted downloads).
    pub holds_publishes: bool,
    /// A pull-through cache of another registry: it lists what it has
    /// fetched, counts no downloads, and cargo reaches it by replacing its
    /// public source.
    pub caches_upstream: bool,
}

impl Source {
    /// The kind's traits.
    pub(crate) fn traits(&self) -> KindTraits {
        KindTraits {
            holds_publishes: matches!(self, Source::Hosted(_) | Source::Replica(_)),
            caches_upstream: matches!(self, Source::Proxy(_)),
        }
    }

    /// The registries it serves, hosted ones first (a virtual registry's
    /// members; empty for other kinds).
    pub(crate) fn members(&self) -> Vec<String> {
        match self {
            Source::Virtual(v) => v
                .hosted_members()
                .iter()
                .chain(v.proxy_members())
                .cloned()
                .collect(),
            Source::Hosted(_) | Source::Proxy(_) | Source::Replica(_) | Source::Toolchains(_) => {
                Vec::new()
            }
        }
    }

    /// The virtual registry's rules, when it is one.
    pub(crate) fn as_virtual(&self) -> Option<&Virtual> {
        match self {
            Source::Virtual(v) => Some(v),
            Source::Hosted(_) | Source::Proxy(_) | Source::Replica(_) | Source::Toolchains(_) => {
                None
            }
        }
    }

    /// The replica, when it is one.
    pub(crate) fn as_replica(&self) -> Option<&Replica> {
        match self {
            Source::Replica(r) => Some(r),
            Source::Hosted(_) | Source::Proxy(_) | Source::Virtual(_) | Source::Toolchains(_) => {
                None
            }
        }
    }

    /// Why users may not change its crates here, when they may not (a
    /// replica's are its primary's).
    pub(crate) fn refuses_writes(&self, reg: &Registry) -> Option<ServiceError> {
        self.as_replica().map(|r| r.read_only(&reg.name))
    }

    /// The proxy, when it is one.
    pub(crate) fn as_proxy(&self) -> Option<&Proxy> {
        match self {
            Source::Proxy(p) => Some(p),
            Source::Hosted(_) | Source::Virtual(_) | Source::Replica(_) | Source::Toolchains(_) => {
                None
            }
        }
    }

    /// The toolchains registry, when it is one.
    pub(crate) fn as_toolchains(&self) -> Option<&Toolchains> {
        match self {
            Source::Toolchains(t) => Some(t),
            Source::Hosted(_) | Source::Proxy(_) | Source::Virtual(_) | Source::Replica(_) => None,
        }
    }

    /// The `.cargo/config.toml` lines that point cargo at `reg`, whose
    /// sparse index is at `url`: a proxy or a virtual registry stands in
    /// for the public registry through source replacement
    /// (`[source.crates-io] replace-with`), which is how cargo uses a
    /// mirror, with a `[registries]` entry of the same index where cargo
    /// needs one (a virtual registry's publishes, a private proxy's token);
    /// a hosted registry is a named registry.
    pub(crate) fn cargo_config_snippet(&self, reg: &Registry, url: &str) -> String {
        let name = &reg.name;
        let registry = format!(
            "[registries.{name}]\nindex = \"sparse+{url}\"\ncredential-provider = [\"cargo:token\"]\n"
        );
        let replace = |source: &str| {
            format!(
                "[source.crates-io]\nreplace-with = \"{source}\"\n\n\
                 [source.{source}]\nregistry = \"sparse+{url}\"\n"
            )
        };
        match self {
            Source::Proxy(_) if reg.private => format!("{}\n{registry}", replace(name)),
            Source::Proxy(_) => replace(name),
            Source::Virtual(_) => format!("{}\n{registry}", replace(&format!("{name}-src"))),
            Source::Hosted(_) | Source::Replica(_) => registry,
            // Not cargo's: rustup's, through its environment.
            Source::Toolchains(_) => {
                let root = url.split("/r/").next().unwrap_or(url).trim_end_matches('/');
                format!(
                    "# rustup, not cargo:
# export RUSTUP_DIST_SERVER={root}/t/{name}
"
                )
            }
        }
    }

    /// The hosted registry that acts on crate `krate` asked of `at.reg`
    /// (which the asker may read): the registry itself when hosted; for a
    /// virtual registry, the hosted member that owns the name.
    pub(crate) async fn hosted_for<'a>(&self, at: At<'a>, krate: &str) -> Answer<&'a Registry> {
        let registry = &at.reg.name;
        let read_only = |kind| {
            ServiceError::BadRequest(format!(
                "registry `{registry}` is a {kind} registry: it serves another registry's crates \
                 read-only; publish, yank and owner changes go to a hosted registry"
            ))
        };
        match self {
            Source::Hosted(_) | Source::Replica(_) => Ok(at.reg),
            Source::Virtual(v) => {
                let name = krate.to_ascii_lowercase();
                match v.resolve(at, &name).await?.map(|(member, _)| member) {
                    Some(member) if member.traits().holds_publishes => Ok(member),
                    Some(member) => Err(read_only(member.kind())),
                    None => Err(ServiceError::NotFound(format!(
                        "crate `{krate}` does not exist"
                    ))),
                }
            }
            Source::Proxy(_) => Err(read_only(self.kind())),
            Source::Toolchains(_) => Err(Toolchains::crate_question(at.reg)),
        }
    }

    /// Where a publish to `reg` goes: the registry itself when hosted, or a
    /// virtual registry's `publish_to` member (with the virtual registry,
    /// whose members decide dependency lines and guards).
    pub(crate) fn publish_target<'a>(
        &self,
        berth: &'a Berth,
        reg: &'a Registry,
    ) -> Result<(&'a Registry, Option<&'a Registry>), ServiceError> {
        let registry = &reg.name;
        match self {
            Source::Hosted(h) => match h.refuses_publish(registry) {
                Some(refusal) => Err(refusal),
                None => Ok((reg, None)),
            },
            Source::Replica(r) => Err(r.read_only(registry)),
            Source::Virtual(v) => match &v.publish_to {
                Some(target) => {
                    let target = berth.registry(target)?;
                    target
                        .source
                        .publish_target(berth, target)
                        .map(|(target, _)| (target, Some(reg)))
                }
                None => Err(ServiceError::BadRequest(format!(
                    "virtual registry `{registry}` has no hosted member to publish to"
                ))),
            },
            Source::Toolchains(_) => Err(Toolchains::crate_question(reg)),
            Source::Proxy(_) => Err(ServiceError::BadRequest(format!(
                "registry `{registry}` is a proxy registry: it serves another registry's crates \
                 read-only; publish, yank and owner changes go to a hosted registry"
            ))),
        }
    }

    /// The registry whose rows a crate page of `at.reg` shows: the registry
    /// itself, or for a virtual registry the member that owns the name
    /// (hosted members first; a claimed name only from them), asked only
    /// of what is stored: a proxy member counts when it has the name
    /// cached, so that a page never makes the proxy ask its upstream.
    /// `None` when no member has it; the caller checks that it may read
    /// the one returned.
    pub(crate) async fn page_holder<'a>(&self, at: At<'a>, name: &str) -> Found<&'a Registry> {
        let Source::Virtual(v) = self else {
            return Ok(Some(at.reg));
        };
        let berth = at.berth;
        let lname = name.to_ascii_lowercase();
        let canon = berth_protocol::canonical_name(name);
        for m in v.hosted_members() {
            let member = berth.registry(m)?;
            if berth.meta.find_crate(member.id, &canon).await?.is_some() {
                return Ok(Some(member));
            }
        }
        if !v.claimed(&lname) {
            for m in v.proxy_members() {
                let member = berth.registry(m)?;
                let cached = berth.meta.proxy_index_get(member.id, &lname).await?;
                if cached.is_some_and(|row| row.body.is_some()) {
                    return Ok(Some(member));
                }
            }
        }
        Ok(None)
    }

    /// The index file of `name` as stored, with the registry holding it:
    /// the one [`Source::page_holder`] picks, when the asker may read it,
    /// and its file asked only of what is stored (a proxy's copy whatever
    /// its age, never its upstream), so that a page can show what a policy
    /// and the advisories say without an upstream request.
    pub(crate) async fn stored_file<'a>(
        &self,
        at: At<'a>,
        name: &str,
    ) -> Found<(&'a Registry, Arc<IndexFile>)> {
        let Some(holder) = self.page_holder(at, name).await? else {
            return Ok(None);
        };
        if !at.may_read(holder) {
            return Ok(None);
        }
        let lname = name.to_ascii_lowercase();
        let file = match &*holder.source {
            Source::Hosted(h) => h.index_file(at.member(holder), &lname).await?,
            Source::Replica(r) => r.hosted.index_file(at.member(holder), &lname).await?,
            Source::Proxy(p) => p.stored_file(at.member(holder), &lname).await?,
            // A virtual registry's members are hosted or proxies.
            Source::Virtual(_) | Source::Toolchains(_) => None,
        };
        Ok(file.map(|f| (holder, f)))
    }
}
