//! Version rules: semver 2.0, bounded length, and the canonical form under
//! which two versions are the same (build metadata ignored).

/// Longest version string accepted.
pub const MAX_VERSION_LEN: usize = 150;

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("the version is too long: at most {MAX_VERSION_LEN} characters are allowed")]
    TooLong,
    #[error("`{vers}` is not a valid semver version: {reason}")]
    Invalid { vers: String, reason: String },
}

/// Parses and checks a version string.
pub fn validate_version(vers: &str) -> Result<semver::Version, VersionError> {
    if vers.len() > MAX_VERSION_LEN {
        return Err(VersionError::TooLong);
    }
    semver::Version::parse(vers).map_err(|e| VersionError::Invalid {
        vers: vers.to_string(),
        reason: e.to_string(),
    })
}

/// The version without build metadata: `1.0.0+abc` and `1.0.0+def` are the
/// same version of a crate.
pub fn canonical_version(v: &semver::Version) -> String {
    let mut v = v.clone();
    v.build = semver::BuildMetadata::EMPTY;
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_metadata_is_ignored() {
        let a = validate_version("1.0.0+abc").unwrap();
        let b = validate_version("1.0.0+def").unwrap();
        assert_eq!(canonical_version(&a), canonical_version(&b));
        assert_eq!(canonical_version(&a), "1.0.0");
        let pre = validate_version("1.0.0-rc.1+x").unwrap();
        assert_eq!(canonical_version(&pre), "1.0.0-rc.1");
    }

    #[test]
    fn refuses_bad_versions() {
        for v in ["1.0", "01.0.0", ""] {
            assert!(
                matches!(validate_version(v), Err(VersionError::Invalid { .. })),
                "{v:?}"
            );
        }
        let long = format!("1.0.0-{}", "a".repeat(200));
        assert_eq!(validate_version(&long), Err(VersionError::TooLong));
    }
}
