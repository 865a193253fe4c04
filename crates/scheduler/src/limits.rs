//! Resource limits as Deis writes them, turned into what the engine takes.

use deis_domain::SchedulerError;

/// Bytes in a memory limit such as `512M` (see [`deis_domain::release::memory_bytes`]).
pub(crate) fn memory_bytes(limit: &str) -> Result<i64, SchedulerError> {
    deis_domain::release::memory_bytes(limit)
        .ok_or_else(|| SchedulerError::Failed(format!("invalid memory limit {limit:?}")))
}
