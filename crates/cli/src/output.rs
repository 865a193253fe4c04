//! The human layout of the original client: `=== app Config` headers, aligned key/value
//! lines and columns, `web.1 up (v3)` process lines and relative dates.
//!
//! Formatting functions return strings so that they can be tested; `say` and friends write
//! them. Writes ignore a closed pipe (`deis apps | head -1` must not panic).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// Set while a line such as `Creating config... ` waits for its `done`.
static PENDING_LINE: AtomicBool = AtomicBool::new(false);

/// Prints one line on standard output.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    PENDING_LINE.store(false, Ordering::SeqCst);
}

/// Prints text without a newline (the start of `Creating config... done`).
pub fn start_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{text}");
    let _ = out.flush();
    PENDING_LINE.store(true, Ordering::SeqCst);
}

/// Ends an unfinished line, so that an error message starts on a line of its own.
pub fn end_pending_line() {
    if PENDING_LINE.swap(false, Ordering::SeqCst) {
        let _ = writeln!(std::io::stdout().lock());
    }
}

/// Prints a JSON value, pretty, for scripts (`--json`).
pub fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    say(&text);
}

/// `=== title`
pub fn header(title: &str) -> String {
    format!("=== {title}")
}

/// A JSON value as a person reads it: strings without quotes, everything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The object in `field` of `resource`; the controller may also send it as a JSON string.
pub fn object_field(resource: &Value, field: &str) -> Map<String, Value> {
    match resource.get(field) {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// Key/value lines sorted by key, values aligned five columns after the longest key, as the
/// original printed config, limits and tags.
pub fn aligned(map: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0) + 5;
    keys.into_iter()
        .map(|k| format!("{k:<width$} {}", value_text(&map[k])))
        .collect()
}

/// `key: value` lines with the values aligned, in the given order.
pub fn fields(pairs: &[(&str, String)]) -> Vec<String> {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}", format!("{k}:")))
        .collect()
}

/// Rows padded into columns two spaces apart; the last column is not padded.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// `web.1 up (v3)` for one container.
pub fn process_line(container: &Value) -> String {
    format!(
        "{}.{} {} ({})",
        value_text(&container["type"]),
        value_text(&container["num"]),
        value_text(&container["state"]),
        value_text(&container["release"]),
    )
}

/// The lines of `ps:list`: a `--- type:` block per process type (in order of first
/// appearance), its containers sorted by number.
pub fn process_blocks(app: &str, containers: &[Value]) -> Vec<String> {
    let mut lines = vec![header(&format!("{app} Processes"))];
    if containers.is_empty() {
        lines.push("No processes".to_owned());
        return lines;
    }
    let mut types: Vec<String> = Vec::new();
    for c in containers {
        let t = value_text(&c["type"]);
        if !types.contains(&t) {
            types.push(t);
        }
    }
    for t in types {
        lines.push(format!("--- {t}:"));
        let mut of_type: Vec<&Value> = containers
            .iter()
            .filter(|c| value_text(&c["type"]) == t)
            .collect();
        of_type.sort_by_key(|c| c["num"].as_i64().unwrap_or(i64::MAX));
        lines.extend(of_type.into_iter().map(process_line));
        lines.push(String::new());
    }
    lines.pop();
    lines
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A timestamp of the API (`2014-01-01T00:00:00UTC`) as people like to read it: `Just now`,
/// `3 minutes ago`, `2 hours 1 minute ago` within a day, else `2014-01-01 00:00:00 UTC`.
/// Text that does not parse is shown as it came.
pub fn readable_datetime(text: &str, now: i64) -> String {
    let Some(then) = parse_timestamp(text) else {
        return text.to_owned();
    };
    let ago = now - then;
    if (0..86_400).contains(&ago) {
        let (hours, minutes) = (ago / 3600, (ago % 3600) / 60);
        let mut parts = Vec::new();
        if hours > 0 {
            parts.push(plural(hours, "hour"));
        }
        if minutes > 0 {
            parts.push(plural(minutes, "minute"));
        }
        if parts.is_empty() {
            return "Just now".to_owned();
        }
        return format!("{} ago", parts.join(" "));
    }
    let digits: String = text.chars().take(19).collect();
    format!("{} UTC", digits.replacen('T', " ", 1))
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS` followed by `UTC`, `Z`, `+00:00` or fractional seconds,
/// into seconds since the epoch (the zone is taken as UTC, which the API always sends).
fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { text.get(from..to)?.parse().ok() };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_lines_are_sorted_and_aligned() {
        let map = json!({"PORT": 5000, "DATABASE_URL": "postgres://x", "A": true});
        let lines = aligned(map.as_object().unwrap());
        assert_eq!(
            lines,
            [
                "A                 true",
                "DATABASE_URL      postgres://x",
                "PORT              5000",
            ]
        );
    }

    #[test]
    fn string_encoded_objects_are_read() {
        let config = json!({"values": "{\"A\": 1}", "memory": {"web": "512M"}, "cpu": 3});
        assert_eq!(object_field(&config, "values")["A"], json!(1));
        assert_eq!(object_field(&config, "memory")["web"], json!("512M"));
        assert!(object_field(&config, "cpu").is_empty());
        assert!(object_field(&config, "tags").is_empty());
    }

    #[test]
    fn processes_are_grouped_by_type() {
        let cs = vec![
            json!({"type": "web", "num": 2, "state": "up", "release": "v3"}),
            json!({"type": "worker", "num": 1, "state": "crashed", "release": "v3"}),
            json!({"type": "web", "num": 1, "state": "up", "release": "v3"}),
        ];
        assert_eq!(process_line(&cs[0]), "web.2 up (v3)");
        assert_eq!(
            process_blocks("myapp", &cs),
            [
                "=== myapp Processes",
                "--- web:",
                "web.1 up (v3)",
                "web.2 up (v3)",
                "",
                "--- worker:",
                "worker.1 crashed (v3)",
            ]
        );
        assert_eq!(
            process_blocks("myapp", &[]),
            ["=== myapp Processes", "No processes"]
        );
    }

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec![
                "v10".to_owned(),
                "Just now".to_owned(),
                "alice added A".to_owned(),
            ],
            vec!["v9".to_owned(), "3 minutes ago".to_owned(), "x".to_owned()],
        ];
        assert_eq!(
            columns(&rows),
            ["v10  Just now       alice added A", "v9   3 minutes ago  x",]
        );
    }

    #[test]
    fn fields_line_up() {
        assert_eq!(
            fields(&[("id", "a".into()), ("owner", "bob".into())]),
            ["id:    a", "owner: bob"]
        );
    }

    #[test]
    fn timestamps_read_naturally() {
        let t = parse_timestamp("2014-01-01T00:00:00UTC").unwrap();
        assert_eq!(t, 1_388_534_400);
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2024-02-29T12:30:15.123Z"),
            Some(1_709_209_815)
        );
        assert_eq!(
            readable_datetime("2014-01-01T00:00:00UTC", t + 20),
            "Just now"
        );
        assert_eq!(
            readable_datetime("2014-01-01T00:00:00UTC", t + 60),
            "1 minute ago"
        );
        assert_eq!(
            readable_datetime("2014-01-01T00:00:00UTC", t + 2 * 3600 + 61),
            "2 hours 1 minute ago"
        );
        assert_eq!(
            readable_datetime("2014-01-01T00:00:00UTC", t + 86_400 * 3),
            "2014-01-01 00:00:00 UTC"
        );
        assert_eq!(readable_datetime("yesterday", t), "yesterday");
    }

    #[test]
    fn values_print_plainly() {
        assert_eq!(value_text(&json!("x")), "x");
        assert_eq!(value_text(&json!(5000)), "5000");
        assert_eq!(value_text(&json!(null)), "");
        assert_eq!(value_text(&json!({"a": 1})), "{\"a\":1}");
    }
}
