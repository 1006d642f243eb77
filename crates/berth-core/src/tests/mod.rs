//! In-process tests of the rules that the end-to-end suite checks through
//! the binary: publish validation order, the dependency-confusion table,
//! virtual-registry name ownership, proxy revalidation and stale serving,
//! token limits, throttles and budgets. Each runs a [`crate::testing`]
//! server on temporary stores and moves its clock instead of sleeping.

mod budgets;
mod change_feed;
mod confusion;
mod log_checks;
mod proxy;
mod publish_order;
mod supply;
mod supply_pages;
mod token_limits;
mod virtual_names;
