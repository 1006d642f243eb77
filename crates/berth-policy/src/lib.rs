//! Supply-chain policy for a registry: whether one version of a crate may be
//! served, and why.
//!
//! A registry's `[registries.policy]` table ([`PolicyConfig`]) is checked
//! once into a [`Policy`]; the exceptions and the approved list that the
//! registry keeps ([`Lists`]) and the imported advisories
//! ([`berth_advisory::AdvisorySet`]) come from the caller. [`evaluate`]
//! answers for one [`Candidate`] (a crate name, a version, its publish time
//! and license): [`Verdict::Allowed`], or [`Verdict::Blocked`] with the
//! [`Rule`] that blocked it and a sentence for the cargo user. [`explain`]
//! gives every rule's answer, for `berth policy explain`.
//!
//! The rules run in a fixed order, and the first that blocks decides:
//! 1. `deny`: the crate (or a range of its versions) is on the deny list;
//! 2. `approved_only`: the crate, at this version, is not on the approved list;
//! 3. `advisory`: a vulnerability advisory affects the version
//!    (`block_advisories`; withdrawn advisories never count);
//! 4. `informational`: an informational advisory of a kind the policy
//!    blocks (`block_informational`) affects it;
//! 5. `license`: its SPDX license expression cannot be satisfied from
//!    `licenses` (or is missing, or does not parse);
//! 6. `min_age`: it was published less than `min_age` ago.
//!
//! A live exception for exactly that name and version (see
//! [`Lists::live_exception`]) allows it whatever the rules say.
//!
//! This crate is pure: no I/O, no database, no HTTP and no clock. Callers
//! pass `now` as Unix seconds, so answers that change with time (a cooldown
//! ending: [`becomes_allowed_at`]; an exception expiring:
//! [`Lists::next_expiry`]) can be cached until exactly then. [`Policy::digest`],
//! [`Lists::digest`] and the advisory set's digest together name every input
//! of a verdict but the clock, for ETags.

#![forbid(unsafe_code)]

mod candidate;
mod config;
mod hash;
mod license;
mod lists;
mod rules;
mod text;
mod verdict;

use berth_advisory::AdvisorySet;

pub use candidate::{Candidate, License};
pub use config::{MinAgeUnknown, Policy, PolicyConfig, PolicyError, MAX_MIN_AGE_SECS};
pub use lists::{Approval, Exception, Lists};
pub use verdict::{Block, Check, Outcome, Rule, Verdict};

/// Decides whether `candidate` may be served under `policy` at `now` (Unix
/// seconds): allowed when a live exception names exactly this version, else
/// blocked by the first rule (in [`Rule::ALL`]'s order) that blocks it.
pub fn evaluate(
    policy: &Policy,
    advisories: &AdvisorySet,
    lists: &Lists,
    candidate: &Candidate<'_>,
    now: i64,
) -> Verdict {
    if policy.is_empty()
        || lists
            .live_exception(candidate.name, candidate.version, now)
            .is_some()
    {
        return Verdict::Allowed;
    }
    let ctx = rules::Ctx::new(policy, advisories, lists, candidate, now, false);
    for rule in Rule::ALL {
        let found = rules::check(&ctx, rule);
        if found.outcome == Outcome::Block {
            return Verdict::Blocked(Block {
                rule,
                reason: found.why,
                advisory: found.advisory,
            });
        }
    }
    Verdict::Allowed
}

/// Every rule's answer for `candidate`, in [`Rule::ALL`]'s order, each with
/// a sentence saying why. A rule the policy does not set is
/// [`Outcome::NotApplicable`]. When a live exception covers the version,
/// each blocking rule still says [`Outcome::Block`], and its sentence ends by
/// naming the exception that allows the version all the same; the verdict
/// itself is [`evaluate`]'s.
pub fn explain(
    policy: &Policy,
    advisories: &AdvisorySet,
    lists: &Lists,
    candidate: &Candidate<'_>,
    now: i64,
) -> Vec<Check> {
    let ctx = rules::Ctx::new(policy, advisories, lists, candidate, now, true);
    let exception = lists.live_exception(candidate.name, candidate.version, now);
    Rule::ALL
        .into_iter()
        .map(|rule| {
            let found = rules::check(&ctx, rule);
            let mut why = found.why;
            if let (Outcome::Block, Some(exception)) = (found.outcome, exception) {
                why.push_str(&text::exception_note(exception));
            }
            Check {
                rule,
                outcome: found.outcome,
                why,
            }
        })
        .collect()
}

/// When the `min_age` rule stops blocking `candidate`: its publish time plus
/// the policy's `min_age`, in Unix seconds (possibly already past). `None`
/// when the policy has no `min_age` or the publish time is unknown: then
/// the passing of time never changes what the rule says.
pub fn becomes_allowed_at(policy: &Policy, candidate: &Candidate<'_>) -> Option<i64> {
    let min_age = policy.min_age_secs()?;
    Some(candidate.published_at?.saturating_add(min_age))
}
