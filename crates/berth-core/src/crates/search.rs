//! Searching a registry's crates (bounded: query length, page size and
//! depth, a fair share of search slots), and the keywords the search page
//! shows beside hits.

use crate::error::ServiceError;
use crate::sources::{SearchPage, SearchResults, MAX_PER_PAGE};
use crate::{Berth, Identity};

/// How deep into search results pages go (`page * per_page`).
pub const MAX_SEARCH_DEPTH: i64 = 1_000;

impl Berth {
    /// Searches crate names and descriptions.
    pub async fn search(
        &self,
        registry: &str,
        who: Option<&Identity>,
        query: &str,
        per_page: Option<i64>,
        page: Option<i64>,
    ) -> Result<SearchResults, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if query.len() > 200 {
            return Err(ServiceError::BadRequest(
                "the search query is too long (at most 200 bytes)".into(),
            ));
        }
        let per_page = per_page.unwrap_or(10).clamp(1, MAX_PER_PAGE);
        let page = page.unwrap_or(1).max(1);
        // Deep pages cost as much as sorting every match; nobody reads them.
        if page.saturating_mul(per_page) > MAX_SEARCH_DEPTH {
            return Err(ServiceError::BadRequest(format!(
                "search results past the first {MAX_SEARCH_DEPTH} are not served; \
                 narrow the query instead"
            )));
        }
        let _slot = self.search_slot().await?;
        let page = SearchPage {
            query: query.trim(),
            per_page,
            offset: (page - 1) * per_page,
        };
        reg.source.search(self.at_for(reg, who), page).await
    }

    /// The keywords of the newest version of each named crate of a hosted
    /// registry (other kinds keep no publish metadata: none), by name.
    pub async fn keywords_of(
        &self,
        registry: &str,
        who: Option<&Identity>,
        names: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<String>>, ServiceError> {
        let reg = self.registry(registry)?;
        self.authorize_read(reg, who)?;
        if !reg.traits().holds_publishes {
            return Ok(Default::default());
        }
        let canon: Vec<String> = names
            .iter()
            .map(|n| berth_protocol::canonical_name(n))
            .collect();
        let rows = self.meta.newest_metadata(reg.id, &canon).await?;
        Ok(rows
            .into_iter()
            .map(|(name, metadata)| {
                let words = serde_json::from_str::<serde_json::Value>(&metadata)
                    .ok()
                    .and_then(|m| {
                        m["keywords"].as_array().map(|k| {
                            k.iter()
                                .filter_map(|w| w.as_str().map(str::to_string))
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                (name, words)
            })
            .collect())
    }
}
