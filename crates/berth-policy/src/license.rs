//! Licenses: the policy's `licenses` list (SPDX license ids, read strictly)
//! and the test of a version's license expression against it (read as
//! crates are published: `/` for `OR`, deprecated and imprecise ids such
//! as `GPL-2.0` or `Apache2` accepted, unknown ids refused).
//!
//! An expression is satisfied when the allowed licenses make it true:
//! `MIT OR Apache-2.0` needs one of the two, `MIT AND Zlib` both. A `WITH`
//! exception must be listed with its license (`Apache-2.0 WITH
//! LLVM-exception`); a `+` in the expression (`MPL-1.1+`) is satisfied by a
//! later version of the license, but GNU ids are compared as written
//! (`GPL-2.0-or-later` needs that very id listed).

use spdx::{Expression, Licensee, ParseMode};

/// What became of a version's license expression.
pub(crate) enum LicenseTest {
    /// The allowed licenses satisfy it.
    Satisfied,
    /// They do not.
    Unsatisfied,
    /// It is not an SPDX expression: why, in words.
    Unparsable(String),
}

/// Reads one entry of `licenses`: a license id, optionally `WITH` an
/// exception. `Err` says what is wrong with it.
pub(crate) fn read_allowed(entry: &str) -> Result<Licensee, String> {
    Licensee::parse(entry.trim()).map_err(|e| {
        format!(
            "is not an SPDX license id ({}); write ids such as `MIT` or `Apache-2.0`, \
             one per entry",
            describe(&e)
        )
    })
}

/// Tests an expression against the allowed licenses.
pub(crate) fn test(expression: &str, allowed: &[Licensee]) -> LicenseTest {
    match Expression::parse_mode(expression.trim(), ParseMode::LAX) {
        Err(e) => LicenseTest::Unparsable(describe(&e)),
        Ok(expr) => {
            if expr.evaluate(|req| allowed.iter().any(|l| l.satisfies(req))) {
                LicenseTest::Satisfied
            } else {
                LicenseTest::Unsatisfied
            }
        }
    }
}

/// A parse error in one line: its reason and, when it has one, the term it
/// points at (spdx's own rendering spans two lines).
fn describe(e: &spdx::ParseError) -> String {
    match e.original.get(e.span.clone()).map(str::trim) {
        Some(term) if !term.is_empty() => format!("{} at `{term}`", e.reason),
        _ => e.reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(ids: &[&str]) -> Vec<Licensee> {
        ids.iter().map(|id| read_allowed(id).unwrap()).collect()
    }

    fn satisfied(expr: &str, ids: &[&str]) -> bool {
        matches!(test(expr, &allowed(ids)), LicenseTest::Satisfied)
    }

    #[test]
    fn expressions_against_lists() {
        assert!(satisfied("MIT OR Apache-2.0", &["MIT"]));
        assert!(satisfied("MIT/Apache-2.0", &["Apache-2.0"]));
        assert!(!satisfied("GPL-3.0-only", &["MIT", "Apache-2.0"]));
        assert!(!satisfied("MIT AND Zlib", &["MIT"]));
        assert!(satisfied("MIT AND Zlib", &["MIT", "Zlib"]));
        assert!(satisfied(
            "(MIT OR Apache-2.0) AND Unicode-3.0",
            &["Apache-2.0", "Unicode-3.0"]
        ));
        assert!(!satisfied(
            "Apache-2.0 WITH LLVM-exception",
            &["Apache-2.0"]
        ));
        assert!(satisfied(
            "Apache-2.0 WITH LLVM-exception",
            &["Apache-2.0 WITH LLVM-exception"]
        ));
        assert!(satisfied("LicenseRef-Acme", &["LicenseRef-Acme"]));
        assert!(satisfied("MPL-1.1+", &["MPL-2.0"]));
        assert!(!satisfied("MPL-2.0+", &["MPL-1.1"]));
        // GNU ids are compared as written: list the `-or-later` id itself.
        assert!(!satisfied("GPL-2.0-or-later", &["GPL-3.0-only"]));
        assert!(satisfied("GPL-2.0-or-later", &["GPL-2.0-or-later"]));
    }

    #[test]
    fn parse_errors_say_where() {
        let LicenseTest::Unparsable(why) = test("MIT OR Nope-1.0", &allowed(&["MIT"])) else {
            panic!("parsed")
        };
        assert!(why.contains("`Nope-1.0`"), "{why}");
        assert!(matches!(test("MIT OR", &[]), LicenseTest::Unparsable(_)));
        assert!(matches!(test("", &[]), LicenseTest::Unparsable(_)));
    }

    #[test]
    fn allowed_entries_are_strict_ids() {
        assert!(read_allowed("MIT").is_ok());
        assert!(read_allowed(" Apache-2.0 ").is_ok());
        for bad in ["Nope", "MIT OR Apache-2.0", "mit/apache", ""] {
            let err = read_allowed(bad).unwrap_err();
            assert!(err.starts_with("is not an SPDX license id ("), "{err}");
        }
    }
}
