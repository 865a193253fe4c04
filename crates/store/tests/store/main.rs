//! The store against real databases: every test runs on a fresh SQLite file.

use std::sync::Arc;

use deis_store::DieselStore;

mod fixtures;

mod apps;
mod concurrency;
mod containers;
mod domains;
mod keys;
mod lifecycle;
mod logs;
mod releases;
mod users;

/// A store on its own database, removed when the test ends.
pub struct TestDb {
    /// The store under test.
    pub store: Arc<DieselStore>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// A migrated SQLite database in a new temporary folder.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("deis.sqlite3").display());
        let store = DieselStore::open(&url, 4).expect("store opens");
        Self {
            store: Arc::new(store),
            _dir: dir,
        }
    }
}

/// Runs each named `async fn(Arc<DieselStore>)` of the calling module against every backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::TestDb::sqlite();
                    super::$name(db.store.clone()).await;
                }
            )*
        }
    };
}
