//! The words of verdicts and explanations: durations, instants, a crate at
//! a version, an advisory, the note an exception adds. Only formatting.

use std::time::{Duration, SystemTime};

use berth_advisory::Advisory;

use crate::lists::Exception;

/// `name@version`, in backquotes.
pub(crate) fn coord(name: &str, version: &semver::Version) -> String {
    format!("`{name}@{version}`")
}

/// A span of seconds in at most its two largest units: `3d`, `1h 30m`,
/// `45s`; `0s` for zero or less.
pub(crate) fn span(secs: i64) -> String {
    const UNITS: [(i64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let secs = secs.max(0);
    let Some(first) = UNITS.iter().position(|(size, _)| secs >= *size) else {
        return "0s".to_owned();
    };
    let (size, unit) = UNITS[first];
    let mut out = format!("{}{unit}", secs / size);
    if let Some((next, next_unit)) = UNITS.get(first + 1) {
        let n = secs % size / next;
        if n > 0 {
            out.push_str(&format!(" {n}{next_unit}"));
        }
    }
    out
}

/// Latest instant shown as a date: 9999-12-31T23:59:59Z.
const LAST_SHOWN: i64 = 253_402_300_799;

/// An instant in Unix seconds as RFC 3339 (`2024-05-01T12:00:00Z`), or as
/// `Unix time N` outside the years 1970 to 9999.
pub(crate) fn instant(secs: i64) -> String {
    match u64::try_from(secs) {
        Ok(s) if secs <= LAST_SHOWN => {
            humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(s))
                .to_string()
        }
        _ => format!("Unix time {secs}"),
    }
}

/// `ID (title)`, then what is patched: `; patched: >=1.2.3 or >=2.0.1`, or
/// (`say_unpatched`) `; no patched version is known`.
pub(crate) fn advisory(advisory: &Advisory, say_unpatched: bool) -> String {
    let mut out = format!("{} ({})", advisory.id, advisory.title.trim());
    if !advisory.patched.is_empty() {
        let patched: Vec<String> = advisory.patched.iter().map(|r| r.to_string()).collect();
        out.push_str("; patched: ");
        out.push_str(&patched.join(" or "));
    } else if say_unpatched {
        out.push_str("; no patched version is known");
    }
    out
}

/// Items joined by `, `, each in backquotes.
pub(crate) fn quoted_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an explanation adds to a blocking rule when an exception allows the
/// version all the same.
pub(crate) fn exception_note(exception: &Exception) -> String {
    let until = match exception.expires_at {
        Some(at) => format!(", until {}", instant(at)),
        None => String::new(),
    };
    format!(
        " (allowed all the same by the exception for {}{until}: {})",
        coord(&exception.name, &exception.version),
        exception.reason.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_show_two_units_at_most() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(-5), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(90), "1m 30s");
        assert_eq!(span(3_600), "1h");
        assert_eq!(span(5_400), "1h 30m");
        assert_eq!(span(3_601), "1h");
        assert_eq!(span(259_200), "3d");
        assert_eq!(span(90_061), "1d 1h");
        assert_eq!(span(86_400 + 60), "1d");
    }

    #[test]
    fn instants_are_rfc3339_in_range() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(instant(LAST_SHOWN), "9999-12-31T23:59:59Z");
        assert_eq!(instant(-1), "Unix time -1");
        assert_eq!(instant(i64::MAX), format!("Unix time {}", i64::MAX));
    }
}
