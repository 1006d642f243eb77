//! Values as messages and audit rows show them: text from a request cut
//! to a length and marked as cut, times as RFC 3339. Imports nothing of
//! the crate.

/// `text` cut to `max` characters, marked as cut and with its full length,
/// so a reader of the log knows it was not the whole value.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
    }
}

/// A Unix time as RFC 3339 (UTC), for messages and listings.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
