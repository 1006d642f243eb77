//! The budget of refusal rows in the audit log: how many `denied` rows each
//! principal (a user; for a caller without one, its client address, IPv6
//! by /64) and everyone together may append in a clock minute, so that a
//! client repeating refused requests cannot turn the audit log into a
//! write load, nor use up the log's budget to hide later refusals.
//!
//! The first refusal of each kind (audit action) of a principal in a
//! minute is always written, past every budget: an attacker's flood of one
//! kind never keeps another kind of refusal out of the log. That guarantee
//! is bounded in memory and rows (users are accounts an operator made;
//! addresses share [`ANONYMOUS_FIRSTS`] a minute). Time is given by the
//! caller (Unix seconds), so tests set it. Nothing here writes a row.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use crate::domain::AuditAction;
use crate::model::AuditEntry;

/// Most refusal rows one principal appends in a minute (past it, refusals
/// are answered as before but not recorded, except the first of a kind).
pub const REFUSALS_PER_CALLER_MINUTE: u32 = 30;
/// Most refusal rows appended in a minute in all, within the principals'
/// budgets.
pub const REFUSALS_PER_MINUTE: u32 = 1_200;
/// Most principals counted in a minute (memory bound).
const PRINCIPALS: usize = 20_000;
/// Most first-of-a-kind rows of callers without a user in a minute, past
/// the budgets (client addresses are cheap: this bounds their rows).
pub const ANONYMOUS_FIRSTS: usize = 2_000;
/// Most first-of-a-kind rows of users in a minute, past the budgets
/// (memory bound; far more than users act in a minute).
const USER_FIRSTS: usize = 100_000;

/// Who a refusal row is counted against: its user, else its client address
/// (IPv6 folded to its /64), else nobody known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    User(String),
    Address(IpAddr),
    /// An address that is not one (never from the server), or none.
    Unknown,
}

impl Principal {
    pub(crate) fn of(entry: &AuditEntry) -> Self {
        if let Some(login) = &entry.actor {
            return Principal::User(login.clone());
        }
        match entry.client_addr.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(ip)) => Principal::Address(address_key(ip)),
            _ => Principal::Unknown,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(login) => write!(f, "user {login}"),
            Principal::Address(IpAddr::V6(a)) => write!(f, "address {a}/64"),
            Principal::Address(a) => write!(f, "address {a}"),
            Principal::Unknown => f.write_str("callers without a user or address"),
        }
    }
}

/// IPv4 addresses count one by one (also IPv4-mapped IPv6 ones); IPv6
/// addresses by /64, the block one client usually holds.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Per-minute counts of refusal rows.
#[derive(Default)]
pub struct RefusalBudget {
    state: Mutex<RefusalCounts>,
}

#[derive(Default)]
struct RefusalCounts {
    minute: i64,
    /// Rows written within the budgets.
    total: u32,
    by_principal: HashMap<Principal, u32>,
    firsts: HashSet<(Principal, AuditAction)>,
    anonymous_firsts: usize,
    suppressed: u64,
}

/// What the budget says about one more refusal row.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Write,
    /// Write it, and say that this principal's further refusals in this
    /// minute are not recorded (but the first of another kind).
    WriteLast,
    Skip,
}

impl RefusalBudget {
    /// Whether `principal`'s refusal of kind `action` at Unix time `now` is
    /// written.
    pub(crate) fn admit(&self, principal: &Principal, action: AuditAction, now: i64) -> Admit {
        let mut c = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let minute = now.div_euclid(60);
        if c.minute != minute {
            if c.suppressed > 0 {
                tracing::warn!(
                    suppressed = c.suppressed,
                    "refusals over the audit log's per-minute budget were answered but not recorded"
                );
            }
            *c = RefusalCounts {
                minute,
                ..Default::default()
            };
        }
        let c = &mut *c;
        let key = (principal.clone(), action);
        let user = matches!(principal, Principal::User(_));
        if !c.firsts.contains(&key) {
            let room = if user {
                c.firsts.len() - c.anonymous_firsts < USER_FIRSTS
            } else {
                c.anonymous_firsts < ANONYMOUS_FIRSTS
            };
            if room {
                c.firsts.insert(key);
                if !user {
                    c.anonymous_firsts += 1;
                }
                // Counted against the principal, not the total: a flood
                // of first refusals never uses up the others' budget.
                if let Some(n) = c.by_principal.get_mut(principal) {
                    *n = n.saturating_add(1);
                } else if c.by_principal.len() < PRINCIPALS {
                    c.by_principal.insert(principal.clone(), 1);
                }
                return Admit::Write;
            }
        }
        if !c.by_principal.contains_key(principal) && c.by_principal.len() >= PRINCIPALS {
            c.suppressed += 1;
            return Admit::Skip;
        }
        let n = c.by_principal.entry(principal.clone()).or_insert(0);
        if *n >= REFUSALS_PER_CALLER_MINUTE || c.total >= REFUSALS_PER_MINUTE {
            c.suppressed += 1;
            return Admit::Skip;
        }
        *n += 1;
        c.total += 1;
        if *n == REFUSALS_PER_CALLER_MINUTE {
            Admit::WriteLast
        } else {
            Admit::Write
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str) -> Principal {
        Principal::User(login.into())
    }

    fn addr(a: &str) -> Principal {
        Principal::Address(address_key(a.parse().unwrap()))
    }

    /// Asks twice for one refusal: the first is written, the second not.
    #[track_caller]
    fn first_only(b: &RefusalBudget, who: &Principal, action: AuditAction, at: i64) {
        assert_eq!(b.admit(who, action, at), Admit::Write);
        assert_eq!(b.admit(who, action, at), Admit::Skip);
    }

    /// A minute starting at a set time.
    const T: i64 = 1_800_000_000; // a whole minute

    #[test]
    fn one_principal_gets_its_budget_and_the_first_of_each_kind() {
        let b = RefusalBudget::default();
        let mallory = user("mallory");
        let mut written = 0;
        for i in 0..100 {
            match b.admit(&mallory, AuditAction::TokenRestricted, T + i % 50) {
                Admit::Write => written += 1,
                Admit::WriteLast => {
                    written += 1;
                    assert_eq!(written, REFUSALS_PER_CALLER_MINUTE);
                }
                Admit::Skip => {}
            }
        }
        assert_eq!(written, REFUSALS_PER_CALLER_MINUTE);
        // Past the budget, the first yank of the minute is still written,
        // the second not.
        assert_eq!(b.admit(&mallory, AuditAction::Yank, T + 50), Admit::Write);
        assert_eq!(b.admit(&mallory, AuditAction::Yank, T + 51), Admit::Skip);
        // Another user is not touched.
        assert_eq!(
            b.admit(&user("alice"), AuditAction::TokenRestricted, T + 52),
            Admit::Write
        );
        // The next minute starts afresh.
        assert_eq!(
            b.admit(&mallory, AuditAction::TokenRestricted, T + 60),
            Admit::Write
        );
        assert_eq!(
            b.admit(&mallory, AuditAction::TokenRestricted, T + 61),
            Admit::Write
        );
    }

    #[test]
    fn many_principals_use_up_the_total_but_never_a_first_refusal() {
        let b = RefusalBudget::default();
        // 48 addresses, 31 refusals each: more than the total.
        let mut written = 0;
        for a in 0..48 {
            for _ in 0..31 {
                if b.admit(&addr(&format!("192.0.2.{a}")), AuditAction::AuthFailure, T)
                    != Admit::Skip
                {
                    written += 1;
                }
            }
        }
        assert_eq!(
            written,
            REFUSALS_PER_MINUTE as usize + 48,
            "budget plus each first"
        );
        first_only(&b, &addr("192.0.2.200"), AuditAction::AuthFailure, T + 1);
        first_only(&b, &user("mallory"), AuditAction::Yank, T + 2);
    }

    #[test]
    fn ipv6_addresses_share_a_budget_per_64_and_anonymous_firsts_are_bounded() {
        let b = RefusalBudget::default();
        for i in 0..REFUSALS_PER_CALLER_MINUTE {
            let a = addr(&format!("2001:db8:0:1:{i:x}::1"));
            assert_ne!(b.admit(&a, AuditAction::AccessDenied, T), Admit::Skip);
        }
        let same = addr("2001:db8:0:1:ffff::2");
        assert_eq!(same.to_string(), "address 2001:db8:0:1::/64");
        assert_eq!(b.admit(&same, AuditAction::AccessDenied, T), Admit::Skip);
        assert_eq!(
            b.admit(&addr("2001:db8:0:2::1"), AuditAction::AccessDenied, T),
            Admit::Write
        );
        assert_eq!(addr("::ffff:192.0.2.1"), addr("192.0.2.1"));
        // A flood of new /64s: each one's first row only while the minute's
        // anonymous firsts last, then only within the total.
        let b = RefusalBudget::default();
        let mut written = 0;
        for i in 0..(ANONYMOUS_FIRSTS + 2 * REFUSALS_PER_MINUTE as usize) {
            let a = addr(&format!("2001:db8:{:x}:{:x}::1", i / 65_536, i % 65_536));
            if b.admit(&a, AuditAction::AuthFailure, T) != Admit::Skip {
                written += 1;
            }
        }
        assert_eq!(written, ANONYMOUS_FIRSTS + REFUSALS_PER_MINUTE as usize);
        // Users' first refusals are still written.
        assert_eq!(
            b.admit(&user("mallory"), AuditAction::Yank, T),
            Admit::Write
        );
    }
}
