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
    /// The SPDX license expression of the version's manifest (`license`);
    /// `None` when it has none (a `license-file` only, say).
    pub license: Option<&'a str>,
}
