//! Crate-name rules: which names may be published and when two names are the
//! same crate. Never allocates more than the name's length and never panics.

/// Longest crate name accepted (the public registry's limit).
pub const MAX_NAME_LEN: usize = 64;

/// Names that can never be published: Windows device names (a crate with one
/// of these names cannot be unpacked on Windows) and the crates of Rust's
/// standard distribution. Compared after [`canonical_name`].
const RESERVED: &[&str] = &[
    "con",
    "prn",
    "aux",
    "nul",
    "com0",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt0",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
    "conin$",
    "conout$",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "compiler_builtins",
    "panic_abort",
    "panic_unwind",
    "unwind",
    "std_detect",
    "profiler_builtins",
    "sysroot",
    "rustc",
    "rustdoc",
    "rustc_std_workspace_core",
    "rustc_std_workspace_alloc",
    "rustc_std_workspace_std",
];

/// Why a crate name was refused. The message is shown to the cargo user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the crate name is empty")]
    Empty,
    #[error("the crate name `{0}` is too long: at most {MAX_NAME_LEN} characters are allowed")]
    TooLong(String),
    #[error("the crate name `{name}` must start with an ASCII letter, not `{first}`")]
    BadStart { name: String, first: char },
    #[error("invalid character `{ch}` in crate name `{name}`: only ASCII letters, digits, `-` and `_` are allowed")]
    BadChar { name: String, ch: char },
    #[error("the crate name `{0}` is reserved and cannot be published")]
    Reserved(String),
}

/// The form in which two names are compared: ASCII-lowercased, with `-`
/// replaced by `_`. `Foo-Bar` and `foo_bar` are the same crate.
pub fn canonical_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Most `-`/`_` separators in a name whose spellings [`spellings`] lists
/// (2^6 = 64 spellings).
pub const MAX_SPELLING_SEPARATORS: usize = 6;

/// Every lowercase spelling of `name` that folds to the same crate (each
/// `-`/`_` either way), the name itself (lowercased) first: the index
/// files a registry may keep one crate under. `None` when the name has more
/// than [`MAX_SPELLING_SEPARATORS`] separators.
pub fn spellings(name: &str) -> Option<Vec<String>> {
    let lower = name.to_ascii_lowercase();
    let seps: Vec<usize> = lower
        .bytes()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'-' | b'_'))
        .map(|(i, _)| i)
        .collect();
    if seps.len() > MAX_SPELLING_SEPARATORS {
        return None;
    }
    let mut out = vec![lower.clone()];
    for mask in 0u32..(1 << seps.len()) {
        let mut bytes = lower.clone().into_bytes();
        for (bit, &i) in seps.iter().enumerate() {
            bytes[i] = if mask & (1 << bit) != 0 { b'-' } else { b'_' };
        }
        // Only ASCII bytes were swapped for ASCII bytes.
        let spelling = String::from_utf8(bytes).unwrap_or_default();
        if spelling != lower {
            out.push(spelling);
        }
    }
    Some(out)
}

/// Checks a name against the public registry's rules.
pub fn validate_crate_name(name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty);
    };
    if name.len() > MAX_NAME_LEN {
        // Truncate what we echo back so an enormous name makes a short error.
        let shown: String = name.chars().take(MAX_NAME_LEN).collect();
        return Err(NameError::TooLong(format!("{shown}...")));
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(NameError::BadChar {
            name: name.to_string(),
            ch,
        });
    }
    if !first.is_ascii_alphabetic() {
        return Err(NameError::BadStart {
            name: name.to_string(),
            first,
        });
    }
    let canon = canonical_name(name);
    if RESERVED.contains(&canon.as_str()) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_every_separator_either_way_the_name_first() {
        assert_eq!(
            spellings("Serde-JSON").unwrap(),
            ["serde-json", "serde_json"]
        );
        assert_eq!(spellings("serde").unwrap(), ["serde"]);
        let all = spellings("a-b_c").unwrap();
        assert_eq!(all[0], "a-b_c");
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, ["a-b-c", "a-b_c", "a_b-c", "a_b_c"]);
        let six = spellings("a-b-c-d-e-f-g").unwrap();
        assert_eq!(six.len(), 64);
        assert!(six.iter().all(|s| canonical_name(s) == "a_b_c_d_e_f_g"));
        assert_eq!(spellings("a-b-c-d-e-f-g-h"), None);
    }

    #[test]
    fn accepts_ordinary_names() {
        for n in ["a", "serde", "Foo-Bar_2", "x1", &"a".repeat(64)] {
            assert_eq!(validate_crate_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(validate_crate_name(""), Err(NameError::Empty));
        assert!(matches!(
            validate_crate_name(&"a".repeat(65)),
            Err(NameError::TooLong(_))
        ));
        for n in ["1abc", "_abc", "-abc"] {
            assert!(
                matches!(validate_crate_name(n), Err(NameError::BadStart { .. })),
                "{n}"
            );
        }
        assert!(matches!(
            validate_crate_name("a.b"),
            Err(NameError::BadChar { ch: '.', .. })
        ));
        for n in ["a/b", "café", "a b"] {
            assert!(
                matches!(validate_crate_name(n), Err(NameError::BadChar { .. })),
                "{n}"
            );
        }
    }

    #[test]
    fn refuses_reserved_names_in_any_spelling() {
        for n in [
            "nul",
            "NUL",
            "Con",
            "com1",
            "LPT9",
            "std",
            "Proc-Macro",
            "core",
            "alloc",
        ] {
            assert!(
                matches!(validate_crate_name(n), Err(NameError::Reserved(_))),
                "{n}"
            );
        }
    }

    #[test]
    fn canonical_folds_case_and_separators() {
        assert_eq!(canonical_name("Foo-Bar"), "foo_bar");
        assert_eq!(canonical_name("foo_bar"), "foo_bar");
        assert_eq!(canonical_name("FOO_BAR"), canonical_name("foo-bar"));
    }
}
