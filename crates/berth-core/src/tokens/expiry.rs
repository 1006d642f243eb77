//! When a token expires: `--expires-in` durations and `--expires-at`
//! times parsed against the clock's now, and times shown as RFC 3339.

use crate::error::ServiceError;
use crate::text::clip;
use crate::tokens::limits::MAX_NAME;

/// Longest `expires_in` a token may be given (100 years).
const MAX_LIFETIME_SECS: u64 = 100 * 365 * 86_400;

/// When a token given `expires_in` (a duration: `90d`, `12h`, `30m`,
/// `30s`, or combined: `1h 30m`) or `expires_at` (a date, `2027-01-31`,
/// meaning its start in UTC, or an RFC 3339 time) expires; `None` for
/// never. At most one of the two may be given, and the time must be after
/// `now` (Unix seconds).
pub fn parse_expiry(
    expires_in: Option<&str>,
    expires_at: Option<&str>,
    now: i64,
) -> Result<Option<i64>, ServiceError> {
    match (expires_in, expires_at) {
        (Some(_), Some(_)) => Err(ServiceError::BadRequest(
            "give either an expiry duration (`--expires-in`, `expires_in`) or an expiry time \
             (`--expires-at`, `expires_at`), not both"
                .into(),
        )),
        (None, None) => Ok(None),
        (Some(d), None) => {
            let bad = || {
                ServiceError::BadRequest(format!(
                    "invalid expiry duration `{}`: write a number and a unit, like `90d`, \
                     `12h`, `30m` or `30s`, of at least one second and at most 100 years",
                    clip(d, MAX_NAME)
                ))
            };
            let secs = humantime::parse_duration(d.trim())
                .map_err(|_| bad())?
                .as_secs();
            if secs == 0 || secs > MAX_LIFETIME_SECS {
                return Err(bad());
            }
            Ok(Some(now + secs as i64))
        }
        (None, Some(t)) => {
            let t = t.trim();
            let bad = || {
                ServiceError::BadRequest(format!(
                    "invalid expiry time `{}`: write a date (`2027-01-31`, its start in UTC) or \
                     an RFC 3339 time (`2027-01-31T12:00:00Z`)",
                    clip(t, MAX_NAME)
                ))
            };
            let at = match time::OffsetDateTime::parse(
                t,
                &time::format_description::well_known::Rfc3339,
            ) {
                Ok(at) => at.unix_timestamp(),
                Err(_) => {
                    let format =
                        time::format_description::parse_borrowed::<2>("[year]-[month]-[day]")
                            .map_err(|e| ServiceError::Internal(format!("date format: {e}")))?;
                    time::Date::parse(t, &format)
                        .map_err(|_| bad())?
                        .midnight()
                        .assume_utc()
                        .unix_timestamp()
                }
            };
            if at <= now {
                return Err(ServiceError::BadRequest(format!(
                    "the expiry time `{t}` is not in the future"
                )));
            }
            Ok(Some(at))
        }
    }
}
