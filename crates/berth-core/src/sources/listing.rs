//! What a registry lists, by kind: its front (newest and most downloaded
//! crates, and how many it holds) and its crates page by page. A hosted
//! registry lists its own rows, a proxy the index files it has fetched, a
//! virtual registry its readable members' crates. Never decides who may
//! ask: the caller authorized the registry, and a virtual registry asks
//! `Berth::authorize_read` for each member.

use berth_store::CrateSummary;

use super::question::{Answer, At};
use super::source::Source;

/// What a registry's front shows: recently updated and most downloaded
/// crates (for a proxy, the index files it fetched last; for a virtual
/// registry, its readable members' crates), and how many crates it holds.
#[derive(Debug, Clone, Default)]
pub struct RegistryFront {
    pub recent: Vec<CrateSummary>,
    pub top: Vec<CrateSummary>,
    pub total: i64,
}

impl Source {
    /// The registry's front, at most `limit` crates in each list.
    pub(crate) async fn front(&self, at: At<'_>, limit: i64) -> Answer<RegistryFront> {
        let At { berth, reg, .. } = at;
        match self {
            Source::Hosted(_) | Source::Replica(_) => Ok(RegistryFront {
                recent: berth.meta.recent_crates(reg.id, limit).await?,
                top: berth.meta.top_crates(reg.id, limit).await?,
                total: berth.meta.crates_by_name(reg.id, 0, 0).await?.1,
            }),
            Source::Proxy(_) => {
                let (rows, total) = berth.meta.proxy_listing(reg.id, true, limit, 0).await?;
                Ok(RegistryFront {
                    recent: rows.into_iter().map(proxied_summary).collect(),
                    top: Vec::new(),
                    total,
                })
            }
            Source::Toolchains(_) => Ok(RegistryFront::default()),
            Source::Virtual(v) => {
                // Each readable member's front, a name shown once (from the
                // first member that has it: hosted members come first).
                let mut front = RegistryFront::default();
                let mut seen = std::collections::HashSet::new();
                let mut recent = Vec::new();
                let mut top = Vec::new();
                for m in v.hosted_members().iter().chain(v.proxy_members()) {
                    let member = berth.registry(m)?;
                    if berth.authorize_read(member, at.caller()).is_err() {
                        continue;
                    }
                    let f = Box::pin(member.source.front(at.member(member), limit)).await?;
                    front.total += f.total;
                    for c in f.recent {
                        if seen.insert(berth_protocol::canonical_name(&c.name)) {
                            recent.push(c);
                        }
                    }
                    top.extend(f.top);
                }
                recent.sort_by_key(|c| std::cmp::Reverse(c.updated_at));
                recent.truncate(limit.max(0) as usize);
                top.sort_by_key(|c| std::cmp::Reverse(c.downloads));
                top.truncate(limit.max(0) as usize);
                front.recent = recent;
                front.top = top;
                Ok(front)
            }
        }
    }

    /// A page of the registry's crates, and how many it has: a hosted
    /// registry's by name, a proxy's cached crates by name, a virtual
    /// registry's as its search with no words lists them (members the
    /// caller may not read left out).
    pub(crate) async fn list(
        &self,
        at: At<'_>,
        limit: i64,
        offset: i64,
    ) -> Answer<(Vec<CrateSummary>, i64)> {
        let At { berth, reg, .. } = at;
        match self {
            Source::Hosted(_) | Source::Replica(_) => {
                Ok(berth.meta.crates_by_name(reg.id, limit, offset).await?)
            }
            Source::Proxy(_) => {
                let (rows, total) = berth
                    .meta
                    .proxy_listing(reg.id, false, limit, offset)
                    .await?;
                Ok((rows.into_iter().map(proxied_summary).collect(), total))
            }
            Source::Toolchains(_) => Ok((Vec::new(), 0)),
            Source::Virtual(_) => {
                let limit = limit.clamp(1, super::MAX_PER_PAGE);
                let found = Box::pin(berth.search(
                    &reg.name,
                    at.caller(),
                    "",
                    Some(limit),
                    Some(offset / limit + 1),
                ))
                .await?;
                let rows = found
                    .hits
                    .into_iter()
                    // Listed as before the hits named their member, and
                    // without their time.
                    .map(|h| CrateSummary {
                        updated_at: 0,
                        member: None,
                        ..h
                    })
                    .collect();
                Ok((rows, found.total))
            }
        }
    }
}

/// A proxy's cached index file as a listed crate.
fn proxied_summary((name, body, changed_at): (String, String, i64)) -> CrateSummary {
    let lines = index_lines(&body);
    let max_version = lines
        .iter()
        .filter(|l| !l["yanked"].as_bool().unwrap_or(false))
        .filter_map(|l| semver::Version::parse(str_of(l, "vers")).ok())
        .max()
        .map(|v| v.to_string());
    CrateSummary {
        name: lines
            .first()
            .map_or(name, |l| str_of(l, "name").to_string()),
        max_version,
        description: None,
        downloads: 0,
        updated_at: changed_at,
        member: None,
    }
}

/// A string field of an index line, or "".
pub(crate) fn str_of<'a>(line: &'a serde_json::Value, key: &str) -> &'a str {
    line.get(key).and_then(|v| v.as_str()).unwrap_or_default()
}

/// The index lines of a cached file that parse (a line that does not is
/// left out of the page, as cargo would skip it).
pub(crate) fn index_lines(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l.get("vers").is_some_and(|v| v.is_string()))
        .collect()
}
