//! Resource limits as Deis writes them, turned into what the engine takes.

use deis_domain::SchedulerError;

/// Bytes in a memory limit such as `512M`, `1g`, `100k` or `10b` (a bare number is bytes;
/// units are binary and case-insensitive, and `MB`-style suffixes are accepted too).
pub(crate) fn memory_bytes(limit: &str) -> Result<i64, SchedulerError> {
    let invalid = || SchedulerError::Failed(format!("invalid memory limit {limit:?}"));
    let trimmed = limit.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let count: i64 = digits.parse().map_err(|_| invalid())?;
    let factor: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(invalid()),
    };
    count.checked_mul(factor).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_are_binary_and_case_insensitive() {
        assert_eq!(memory_bytes("512M").ok(), Some(512 * 1024 * 1024));
        assert_eq!(memory_bytes("1g").ok(), Some(1024 * 1024 * 1024));
        assert_eq!(memory_bytes("100k").ok(), Some(102_400));
        assert_eq!(memory_bytes("10b").ok(), Some(10));
        assert_eq!(memory_bytes("64MB").ok(), Some(64 * 1024 * 1024));
        assert_eq!(memory_bytes("4096").ok(), Some(4096));
    }

    #[test]
    fn malformed_memory_limits_are_refused() {
        for bad in ["", "M", "12x", "1.5g", "-1m", "99999999999999999999g"] {
            assert!(memory_bytes(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
