//! The six rules, each one function from the inputs of a verdict to its
//! answer: the outcome, the sentence that says why, and the advisory it
//! names. The sentence of a rule that passes or does not apply is written
//! only for an explanation, so that a verdict formats only what it returns.

use berth_advisory::{Advisory, AdvisorySet, Kind};

use crate::candidate::{Candidate, License};
use crate::config::{MinAgeUnknown, Policy};
use crate::license::{self, LicenseTest};
use crate::lists::Lists;
use crate::text::{self, coord, quoted_list, span};
use crate::verdict::{Outcome, Rule};

/// Everything a rule reads.
pub(crate) struct Ctx<'a> {
    pub policy: &'a Policy,
    pub advisories: &'a AdvisorySet,
    pub lists: &'a Lists,
    pub candidate: &'a Candidate<'a>,
    pub now: i64,
    /// Whether the sentences of rules that do not block are wanted.
    pub explain: bool,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        policy: &'a Policy,
        advisories: &'a AdvisorySet,
        lists: &'a Lists,
        candidate: &'a Candidate<'a>,
        now: i64,
        explain: bool,
    ) -> Self {
        Ctx {
            policy,
            advisories,
            lists,
            candidate,
            now,
            explain,
        }
    }
}

/// One rule's answer.
pub(crate) struct Found {
    pub outcome: Outcome,
    pub why: String,
    pub advisory: Option<String>,
}

impl Ctx<'_> {
    fn quiet(&self, outcome: Outcome, why: impl FnOnce() -> String) -> Found {
        Found {
            outcome,
            why: if self.explain { why() } else { String::new() },
            advisory: None,
        }
    }

    fn pass(&self, why: impl FnOnce() -> String) -> Found {
        self.quiet(Outcome::Pass, why)
    }

    fn not_applicable(&self, why: impl FnOnce() -> String) -> Found {
        self.quiet(Outcome::NotApplicable, why)
    }

    fn coord(&self) -> String {
        coord(self.candidate.name, self.candidate.version)
    }
}

fn block(why: String, advisory: Option<&Advisory>) -> Found {
    Found {
        outcome: Outcome::Block,
        why: format!("blocked by policy: {why}"),
        advisory: advisory.map(|a| a.id.clone()),
    }
}

/// Runs one rule.
pub(crate) fn check(ctx: &Ctx<'_>, rule: Rule) -> Found {
    match rule {
        Rule::Deny => deny(ctx),
        Rule::ApprovedOnly => approved_only(ctx),
        Rule::Advisory => advisory(ctx),
        Rule::Informational => informational(ctx),
        Rule::License => license(ctx),
        Rule::MinAge => min_age(ctx),
    }
}

fn deny(ctx: &Ctx<'_>) -> Found {
    let Candidate { name, version, .. } = *ctx.candidate;
    if ctx.policy.deny.is_empty() {
        return ctx.not_applicable(|| "the policy denies no crate".to_owned());
    }
    match ctx.policy.deny.iter().find(|e| e.denies(name, version)) {
        Some(entry) => block(
            format!(
                "{} is on this registry's deny list (`{}`)",
                ctx.coord(),
                entry.text
            ),
            None,
        ),
        None => ctx.pass(|| format!("{} matches no entry of the deny list", ctx.coord())),
    }
}

fn approved_only(ctx: &Ctx<'_>) -> Found {
    let Candidate { name, version, .. } = *ctx.candidate;
    if !ctx.policy.approved_only {
        return ctx.not_applicable(|| "the policy does not require approval".to_owned());
    }
    if let Some(approval) = ctx.lists.approval(name, version) {
        return ctx.pass(|| match &approval.req {
            None => format!("`{}` is approved, every version", approval.name),
            Some(req) => format!("{} is approved (`{}@{req}`)", ctx.coord(), approval.name),
        });
    }
    let reqs: Vec<String> = ctx
        .lists
        .approvals_of(name)
        .filter_map(|a| a.req.as_ref().map(|r| r.to_string()))
        .collect();
    if reqs.is_empty() {
        block(
            format!("`{name}` is not on this registry's approved list"),
            None,
        )
    } else {
        block(
            format!(
                "{} is not approved on this registry: `{name}` is approved only for {}",
                ctx.coord(),
                quoted_list(&reqs)
            ),
            None,
        )
    }
}

/// The advisories affecting the candidate, of the kinds `pick` keeps.
fn affecting<'a>(ctx: &Ctx<'a>, pick: impl Fn(&Kind) -> bool) -> Vec<&'a Advisory> {
    ctx.advisories
        .affecting(ctx.candidate.name, ctx.candidate.version)
        .filter(|a| pick(&a.kind))
        .collect()
}

/// `; also ID, ID` for the advisories after the first.
fn others(found: &[&Advisory]) -> String {
    if found.len() < 2 {
        return String::new();
    }
    let ids: Vec<&str> = found[1..].iter().map(|a| a.id.as_str()).collect();
    format!("; also {}", ids.join(", "))
}

fn advisory(ctx: &Ctx<'_>) -> Found {
    if !ctx.policy.block_advisories {
        return ctx.not_applicable(|| {
            let mut why = "the policy does not block advisories".to_owned();
            let found = affecting(ctx, Kind::is_vulnerability);
            if !found.is_empty() {
                let ids: Vec<&str> = found.iter().map(|a| a.id.as_str()).collect();
                why.push_str(&format!(" ({} affects this version)", ids.join(", ")));
            }
            why
        });
    }
    let found = affecting(ctx, Kind::is_vulnerability);
    match found.first() {
        Some(first) => block(
            format!(
                "{} is affected by {}{}",
                ctx.coord(),
                text::advisory(first, true),
                others(&found)
            ),
            Some(first),
        ),
        None => ctx.pass(|| format!("no vulnerability advisory affects {}", ctx.coord())),
    }
}

fn informational(ctx: &Ctx<'_>) -> Found {
    let blocked = &ctx.policy.informational;
    if blocked.is_empty() {
        return ctx.not_applicable(|| {
            let mut why = "the policy blocks no informational advisory".to_owned();
            let found = affecting(ctx, |k| !k.is_vulnerability());
            if !found.is_empty() {
                let ids: Vec<String> = found
                    .iter()
                    .map(|a| format!("{} ({})", a.id, a.kind))
                    .collect();
                why.push_str(&format!(" ({} affects this version)", ids.join(", ")));
            }
            why
        });
    }
    let found = affecting(ctx, |kind| match kind {
        Kind::Informational(i) => blocked.contains(i),
        Kind::Vulnerability => false,
    });
    match found.first() {
        Some(first) => block(
            format!(
                "{} is flagged {} by {}{}",
                ctx.coord(),
                first.kind,
                text::advisory(first, false),
                others(&found)
            ),
            Some(first),
        ),
        None => ctx.pass(|| {
            let kinds: Vec<String> = blocked
                .iter()
                .map(|i| Kind::Informational(i.clone()).to_string())
                .collect();
            format!(
                "no advisory of the kinds blocked ({}) affects {}",
                quoted_list(&kinds),
                ctx.coord()
            )
        }),
    }
}

fn license(ctx: &Ctx<'_>) -> Found {
    let Some(allowed) = &ctx.policy.licenses else {
        return ctx.not_applicable(|| "the policy allows any license".to_owned());
    };
    let listed = || quoted_list(allowed.iter().map(|l| l.to_string()));
    let expression = match ctx.candidate.license {
        License::Declared(expression) => expression.trim(),
        License::Missing => "",
        License::Unknown => {
            return ctx.not_applicable(|| {
                format!(
                    "the license of {} is not known here (an upstream index line carries                      none), so the license rule cannot apply",
                    ctx.coord()
                )
            })
        }
    };
    if expression.is_empty() {
        return block(
            format!(
                "the license of {} is unknown (it declares no SPDX license expression), and \
                 this registry allows only {}",
                ctx.coord(),
                listed()
            ),
            None,
        );
    }
    match license::test(expression, allowed) {
        LicenseTest::Satisfied => ctx.pass(|| {
            format!(
                "the license of {}, `{expression}`, is satisfied by the allowed licenses",
                ctx.coord()
            )
        }),
        LicenseTest::Unsatisfied => block(
            format!(
                "{} is licensed `{expression}`, which this registry's allowed licenses ({}) \
                 do not satisfy",
                ctx.coord(),
                listed()
            ),
            None,
        ),
        LicenseTest::Unparsable(problem) => block(
            format!(
                "the license of {}, `{expression}`, is not a valid SPDX license expression \
                 ({problem})",
                ctx.coord()
            ),
            None,
        ),
    }
}

fn min_age(ctx: &Ctx<'_>) -> Found {
    let Some(min_age) = ctx.policy.min_age else {
        return ctx.not_applicable(|| "the policy has no cooldown".to_owned());
    };
    let cooldown = span(min_age);
    let Some(published) = ctx.candidate.published_at else {
        return match ctx.policy.min_age_unknown {
            MinAgeUnknown::Allow => ctx.pass(|| {
                format!(
                    "the publish time of {} is unknown, and the policy serves such versions \
                     (`min_age_unknown = \"allow\"`)",
                    ctx.coord()
                )
            }),
            MinAgeUnknown::Block => block(
                format!(
                    "the publish time of {} is unknown, so it cannot be shown to be older than \
                     this registry's cooldown of {cooldown}",
                    ctx.coord()
                ),
                None,
            ),
        };
    };
    let allowed_at = published.saturating_add(min_age);
    let age = ctx.now.saturating_sub(published);
    if ctx.now >= allowed_at {
        return ctx.pass(|| {
            format!(
                "{} was published {} ago, at least the cooldown of {cooldown}",
                ctx.coord(),
                span(age)
            )
        });
    }
    let when = if age < 0 {
        format!(
            "has a publish time in the future ({})",
            text::instant(published)
        )
    } else {
        format!("was published {} ago", span(age))
    };
    block(
        format!(
            "{} {when}, and this registry serves a version only {cooldown} after it is \
             published (from {})",
            ctx.coord(),
            text::instant(allowed_at)
        ),
        None,
    )
}
