//! Timestamps in the wire formats of the API.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// The current time in UTC, truncated to microseconds (what every backend stores).
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// `YYYY-MM-DDTHH:MM:SSUTC`, the format of `created`/`updated` and log lines.
pub fn deis(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// ISO 8601 with milliseconds (omitted when zero) and `Z`, the format of user objects.
pub fn iso_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let head = t.format(&base).unwrap_or_default();
    match t.millisecond() {
        0 => format!("{head}Z"),
        ms => format!("{head}.{ms:03}Z"),
    }
}

/// Microseconds since the epoch, how stores persist instants.
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The instant `micros` microseconds after the epoch.
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses RFC 3339 (what Docker prints in front of log lines).
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_match_the_wire() {
        let t = datetime!(2014-10-19 22:01:00.601 UTC);
        assert_eq!(deis(t), "2014-10-19T22:01:00UTC");
        assert_eq!(iso_millis(t), "2014-10-19T22:01:00.601Z");
        assert_eq!(
            iso_millis(datetime!(2014-10-19 22:01:00 UTC)),
            "2014-10-19T22:01:00Z"
        );
        assert_eq!(from_micros(to_micros(t)), t);
    }
}
