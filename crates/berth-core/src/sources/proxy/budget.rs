//! The memory budget for upstream index bodies, shared by every proxy of
//! the server (`limits.proxy_index_buffer_bytes`): a body's share is
//! reserved before it is read or loaded, grown as an undeclared body
//! arrives, and held until the file is stored and built. A body that
//! cannot get its share in time is refused, not read.
//!
//! This module only counts memory; it reads nothing.

use std::time::Duration;

use tokio::sync::SemaphorePermit;

use super::error::UpstreamError;
use crate::config::LimitsConfig;

/// Memory an upstream index file costs while it is read, checked, stored
/// and built, per byte of its body (the body, the database's copy of it
/// while it is written, the gzip variant).
const INDEX_COST_FACTOR: u64 = 3;

/// Index memory is counted in KiB so that a large budget fits the
/// semaphore's `u32` permit counts.
const BUDGET_UNIT: u64 = 1024;

/// Memory for upstream index bodies in flight, shared by every proxy of
/// the server (`limits.proxy_index_buffer_bytes`).
pub(crate) struct IndexBudget {
    memory: tokio::sync::Semaphore,
    units: u32,
    /// `limits.max_index_file_bytes`: the largest body read.
    pub(super) max_file: u64,
}

impl IndexBudget {
    pub(crate) fn new(limits: &LimitsConfig) -> Self {
        let units = (limits.proxy_index_buffer_bytes / BUDGET_UNIT)
            .clamp(1, u64::from(u32::MAX >> 4)) as u32;
        Self {
            memory: tokio::sync::Semaphore::new(units as usize),
            units,
            max_file: limits.max_index_file_bytes,
        }
    }

    /// The units a body of `size` bytes costs; a body costing more than
    /// the whole budget takes all of it.
    fn units_for(&self, size: u64) -> u32 {
        size.saturating_mul(INDEX_COST_FACTOR)
            .div_ceil(BUDGET_UNIT)
            .clamp(1, u64::from(self.units)) as u32
    }

    /// Waits (at most `wait`) for the memory a body of `size` bytes costs.
    pub(super) async fn reserve(
        &self,
        size: u64,
        wait: Duration,
    ) -> Result<SemaphorePermit<'_>, UpstreamError> {
        self.acquire(self.units_for(size), wait).await
    }

    /// Grows `held` to what a body of `size` bytes costs (a body whose
    /// size was not declared, as it arrives).
    pub(super) async fn grow<'a>(
        &'a self,
        held: &mut SemaphorePermit<'a>,
        size: u64,
        wait: Duration,
    ) -> Result<(), UpstreamError> {
        let want = self.units_for(size) as usize;
        if want > held.num_permits() {
            let more = (want - held.num_permits()) as u32;
            held.merge(self.acquire(more, wait).await?);
        }
        Ok(())
    }

    async fn acquire(
        &self,
        units: u32,
        wait: Duration,
    ) -> Result<SemaphorePermit<'_>, UpstreamError> {
        match tokio::time::timeout(wait, self.memory.acquire_many(units)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("berth_refused_total", "reason" => "proxy_index_buffer")
                    .increment(1);
                Err(UpstreamError::Busy)
            }
        }
    }
}
