//! The SQLite file a store opened, watched so that a file moved away, removed or replaced while
//! serving is noticed instead of written into.
//!
//! Open connections keep the file they opened even after it was unlinked or renamed: writes
//! would succeed into a file nobody will ever open again. The store compares the path's device
//! and inode with the ones it opened before and after every use of a connection (one `stat`
//! each: no write goes into a file moved away, and one that raced the move is not reported as
//! done), and answers `Unavailable` until the same file is back at its path. Before answering
//! from its read cache it trusts a check younger than [`RECENT`]: a `stat` costs microseconds,
//! a cached read only a few more.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deis_domain::StoreError;

/// How long a successful check is trusted before a cached read.
const RECENT: Duration = Duration::from_millis(100);

/// The path and identity (device, inode) of the database file the store opened.
#[derive(Debug)]
pub(crate) struct DbFile {
    path: PathBuf,
    device: u64,
    inode: u64,
    /// When this was made; `checked` counts from here.
    since: Instant,
    /// One more than the milliseconds after `since` of the last successful check; 0 once a
    /// check failed (nothing is trusted until one succeeds again).
    checked: AtomicU64,
}

impl DbFile {
    /// Records the identity of the file now at `path`.
    pub(crate) fn at(path: &Path) -> Result<Self, StoreError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            device: meta.dev(),
            inode: meta.ino(),
            since: Instant::now(),
            checked: AtomicU64::new(1),
        })
    }

    /// One more than the milliseconds since `since` (so never 0).
    fn stamp(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Like [`DbFile::check`], trusting the last check when it succeeded less than [`RECENT`]
    /// ago.
    pub(crate) fn check_recent(&self) -> Result<(), StoreError> {
        let checked = self.checked.load(Ordering::Relaxed);
        let trusted =
            checked != 0 && u128::from(self.stamp().saturating_sub(checked)) < RECENT.as_millis();
        if trusted { Ok(()) } else { self.check() }
    }

    /// `Unavailable` unless the file at the path is still the one opened.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let outcome = self.compare();
        let stamp = if outcome.is_ok() { self.stamp() } else { 0 };
        self.checked.store(stamp, Ordering::Relaxed);
        outcome
    }

    fn compare(&self) -> Result<(), StoreError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.device && meta.ino() == self.inode => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "the database file {} was replaced while serving; restart the controller to \
                 use the new file",
                self.path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::Unavailable(format!(
                    "the database file {} is gone (moved or removed while serving); put it back",
                    self.path.display()
                )))
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "the database file {}: {e}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_or_replaced_file_is_noticed_and_its_return_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("deis.db");
        let aside = dir.path().join("aside.db");
        std::fs::write(&path, b"x").expect("write");
        let file = DbFile::at(&path).expect("identity");
        file.check().expect("the same file");
        std::fs::rename(&path, &aside).expect("move away");
        file.check_recent().expect("a check this recent is trusted");
        assert!(matches!(file.check(), Err(StoreError::Unavailable(m)) if m.contains("is gone")));
        assert!(
            file.check_recent().is_err(),
            "a failed check is not trusted"
        );
        std::fs::write(&path, b"x").expect("another file");
        assert!(
            matches!(file.check(), Err(StoreError::Unavailable(m)) if m.contains("was replaced"))
        );
        std::fs::rename(&aside, &path).expect("put back");
        file.check().expect("the same file is back");
        std::fs::remove_file(&path).expect("removed");
        file.check_recent().expect("a check this recent is trusted");
        std::thread::sleep(RECENT);
        assert!(file.check_recent().is_err(), "an old check is not trusted");
    }
}
