//! The one version a verdict is about, as the caller knows it: its crate,
//! version, publish time and license.

use semver::Version;

/// One version of a crate, as the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The crate's name, in any spelling (`Foo-Bar` and `foo_bar` are one crate).
    pub name: &'a str,
    /// The version.
    pub version: &'a Version,
    /// When the version was published, in Unix seconds: a hosted registry's
    /// publish time, or an upstream index line's `pubtime`. `None` when
    /// nobody knows (see [`crate::MinAgeUnknown`]).
    pub published_at: Option<i64>,
    /// The license of the version's manifest, as far as the caller knows.
    pub license: License<'a>,
}

/// What the caller knows of a version's license.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum License<'a> {
    /// The manifest's SPDX license expression (`license`).
    Declared(&'a str),
    /// The manifest declares none (a `license-file` only, say): a policy
    /// with `licenses` blocks the version.
    Missing,
    /// The caller cannot know yet (an upstream's index line carries no
    /// license): the `licenses` rule does not apply, and says so.
    Unknown,
}

impl<'a> License<'a> {
    /// `Declared` for `Some`, `Missing` for `None`.
    pub fn of(expression: Option<&'a str>) -> License<'a> {
        expression.map_or(License::Missing, License::Declared)
    }
}
