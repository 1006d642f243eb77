//! Entry paths: what an archive's path must look like to be accepted (under
//! `{name}-{version}/`, plain components, within the length limits), and the
//! path under which the README named by the publish metadata is looked for.

use std::path::{Component, Path};

use crate::error::{shown, TarballError};
use crate::limits::{Limits, MAX_COMPONENT_LEN};

/// Validates an entry path and returns it without any trailing slash, plus
/// whether it had one. The path must be `{root}` followed by plain names, no
/// longer than the limits.
pub(crate) fn check_path(
    raw: &[u8],
    root: &str,
    limits: &Limits,
) -> Result<(String, bool), TarballError> {
    if raw.len() as u64 > limits.max_path_len {
        return Err(TarballError::PathTooLong {
            path: shown(&String::from_utf8_lossy(raw)),
            len: raw.len(),
            limit: limits.max_path_len,
        });
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(TarballError::InvalidPath {
            path: shown(&String::from_utf8_lossy(raw)),
            reason: "it is not valid UTF-8",
        });
    };
    let invalid = |reason| TarballError::InvalidPath {
        path: shown(text),
        reason,
    };
    let outside = || TarballError::OutsideRoot {
        path: shown(text),
        root: shown(root),
    };
    if text.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    if text.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let (body, trailing_slash) = match text.strip_suffix('/') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let mut segments = body.split('/');
    if segments.next() != Some(root) {
        return Err(outside());
    }
    for segment in segments {
        match segment {
            ".." => return Err(outside()),
            "" => return Err(invalid("it contains an empty component")),
            "." => return Err(invalid("it contains a `.` component")),
            long if long.len() > MAX_COMPONENT_LEN => {
                return Err(invalid(
                    "a component is longer than 255 bytes, which no file system cargo unpacks onto can store",
                ))
            }
            _ => {}
        }
    }
    // Cross-check with std's parser so no root, prefix or parent component
    // can slip through on any platform.
    let mut components = Path::new(body).components();
    let first_ok = matches!(components.next(), Some(Component::Normal(first)) if first == root);
    if !first_ok || !components.all(|c| matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    Ok((body.to_owned(), trailing_slash))
}

/// The archive path under which the README is expected, if any.
pub(crate) fn readme_key(root: &str, readme_path: &str) -> Option<String> {
    let mut path = readme_path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    if path.is_empty() {
        None
    } else {
        Some(format!("{root}/{path}"))
    }
}
