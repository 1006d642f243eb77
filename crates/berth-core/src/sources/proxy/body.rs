//! Reading a proxy's upstream answers: a bounded body into one buffer of
//! its declared size, and an index body within its share of the memory
//! budget (`budget.rs`), at most `limits.max_index_file_bytes`, without
//! copies, a large one in memory of its own.
//!
//! This module only reads bodies; what they say is judged by its callers.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::error::UpstreamError;
use super::state::Proxy;

/// The first share of the budget an index body without a declared size
/// reserves; it grows as the body arrives.
const UNDECLARED_FIRST: u64 = 256 * 1024;

/// Declared index bodies from this size on are read into a mapping of
/// their own (few files are this large, so few mappings exist at once).
const MAP_INDEX_FROM: u64 = 1024 * 1024;

impl Proxy {
    /// Reads a response body of at most `max` bytes, into one buffer of
    /// the declared size when there is one.
    pub(super) async fn read_body(
        resp: reqwest::Response,
        max: u64,
    ) -> Result<Vec<u8>, UpstreamError> {
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(UpstreamError::TooLarge { max });
        }
        let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(UpstreamError::Reading)?;
            if (out.len() + chunk.len()) as u64 > max {
                return Err(UpstreamError::TooLarge { max });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Reads an index body of at most `limits.max_index_file_bytes`, into
    /// one buffer of its declared size when it declares one (no growing,
    /// no copies); the buffer becomes the served file's body. A large
    /// declared body gets memory of its own (an anonymous mapping), given
    /// back to the system when the file is dropped rather than kept by the
    /// allocator in some thread's arena.
    ///
    /// The body's share of the budget is reserved before it is read: its
    /// declared size, or, without one, a first slice that grows as the
    /// body arrives. It is held (in `memory`) until the file is stored and
    /// built; when `memory` already holds the share of a stored body of
    /// `held_for` bytes, the new body's share is added to it.
    pub(super) async fn read_index_body<'a>(
        &'a self,
        resp: reqwest::Response,
        memory: &mut Option<tokio::sync::SemaphorePermit<'a>>,
        held_for: u64,
    ) -> Result<Bytes, UpstreamError> {
        let max = self.budget.max_file;
        let too_large = || UpstreamError::IndexTooLarge { max };
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let wait = Duration::from_secs(self.settings.upstream_timeout_secs);
        let mut reserved = declared.unwrap_or(UNDECLARED_FIRST.min(max));
        // What `memory` already holds (a stored body's share) stays held:
        // the new body's share is added to it.
        let held = match memory {
            Some(held) => {
                self.budget
                    .grow(held, held_for.saturating_add(reserved), wait)
                    .await?;
                held
            }
            None => memory.insert(self.budget.reserve(reserved, wait).await?),
        };
        let mut mapped = match declared {
            Some(n) if n >= MAP_INDEX_FROM => {
                Some(memmap2::MmapMut::map_anon(n as usize).map_err(UpstreamError::NoMemory)?)
            }
            _ => None,
        };
        let mut out = Vec::with_capacity(match mapped {
            Some(_) => 0,
            None => declared.unwrap_or(0) as usize,
        });
        let mut len = 0usize;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(UpstreamError::Reading)?;
            let end = len + chunk.len();
            if end as u64 > max {
                return Err(too_large());
            }
            if end as u64 > reserved {
                // Room for the buffer doubling as it grows.
                reserved = (end as u64).saturating_mul(2).min(max);
                self.budget
                    .grow(held, held_for.saturating_add(reserved), wait)
                    .await?;
            }
            match mapped.as_mut() {
                Some(map) => map
                    .get_mut(len..end)
                    .ok_or(UpstreamError::MoreThanDeclared)?
                    .copy_from_slice(&chunk),
                None => out.extend_from_slice(&chunk),
            }
            len = end;
        }
        match mapped {
            Some(map) => {
                let map = map.make_read_only().map_err(UpstreamError::Keeping)?;
                Ok(Bytes::from_owner(map).slice(..len))
            }
            None => {
                // A grown buffer gives back what it does not use.
                out.shrink_to_fit();
                Ok(Bytes::from(out))
            }
        }
    }
}
