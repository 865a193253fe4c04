//! The store against real databases: every test runs on a fresh SQLite file and, when
//! `DEIS_TEST_POSTGRES_URL` names a PostgreSQL server, on a fresh PostgreSQL database too.
//!
//! `DEIS_TEST_POSTGRES_URL` is a URL of a role allowed to create databases, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres` (`cargo xtask test` starts such a server and
//! sets it). Each test creates its own database on that server and drops it afterwards.
//! Without the variable the PostgreSQL variants print a notice and pass, except under CI
//! (`CI` set), where they fail: CI must run them.

use std::sync::Arc;

use deis_store::DieselStore;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

mod fixtures;

mod apps;
mod concurrency;
mod containers;
mod domains;
mod keys;
mod lifecycle;
mod logs;
mod paging;
mod releases;
mod replicas;
mod throttle;
mod users;
mod v17;

/// A store on its own database, removed when the test ends.
pub struct TestDb {
    /// The store under test (`None` before opening and once dropped).
    store: Option<Arc<DieselStore>>,
    /// The URL of the database.
    pub url: String,
    place: Place,
}

/// Where a test database lives, to clean it up.
enum Place {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

/// The PostgreSQL server the tests may use: `None` (after a notice) when none is configured
/// outside CI; a failure under CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("DEIS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI must set DEIS_TEST_POSTGRES_URL: the PostgreSQL store tests cannot be skipped there"
        ),
        _ => {
            eprintln!("notice: DEIS_TEST_POSTGRES_URL is not set; PostgreSQL store test skipped");
            None
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let authority = head.find("://").map_or(0, |i| i + 3);
    let path = head[authority..]
        .find('/')
        .map_or(head.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &head[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDb {
    /// A migrated SQLite database in a new temporary folder.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join("deis.sqlite3").display());
        let store = DieselStore::open(&url, 4).expect("store opens");
        Self {
            store: Some(Arc::new(store)),
            url,
            place: Place::Sqlite { _dir: dir },
        }
    }

    /// A new, migrated PostgreSQL database on the configured server, if there is one.
    pub fn postgres() -> Option<Self> {
        let mut db = Self::postgres_empty()?;
        let store = DieselStore::open(&db.url, 4).expect("store opens on PostgreSQL");
        db.store = Some(Arc::new(store));
        Some(db)
    }

    /// A new, empty PostgreSQL database on the configured server, with no store yet.
    pub fn postgres_empty() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("deis_store_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin =
            PgConnection::establish(&admin_url).expect("DEIS_TEST_POSTGRES_URL connects");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("test database created");
        let url = with_database(&admin_url, &name);
        Some(Self {
            store: None,
            url,
            place: Place::Postgres { admin_url, name },
        })
    }

    /// The store under test.
    pub fn store(&self) -> Arc<DieselStore> {
        self.store.clone().expect("the store is open")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Close the pool first, so that the database has no sessions left to drop.
        self.store.take();
        if let Place::Postgres { admin_url, name } = &self.place {
            let dropped = PgConnection::establish(admin_url).map(|mut admin| {
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
            });
            if !matches!(dropped, Ok(Ok(_))) {
                eprintln!("warning: test database {name} was not dropped: {dropped:?}");
            }
        }
    }
}

/// Runs `sql` on the database at `url` behind the store's back (edits the store would refuse).
pub fn execute_by_hand(url: &str, sql: &str) {
    let query = diesel::sql_query(sql);
    let done = match url.strip_prefix("sqlite://") {
        Some(path) => SqliteConnection::establish(path).map(|mut c| query.execute(&mut c)),
        None => PgConnection::establish(url).map(|mut c| query.execute(&mut c)),
    };
    assert!(matches!(done, Ok(Ok(_))), "{sql}: {done:?}");
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
                    super::$name(db.store()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres() else { return };
                    super::$name(db.store()).await;
                }
            )*
        }
    };
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres", "t"),
        "postgres://u@h:5432/t"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=require", "t"),
        "postgres://u:p@h/t?sslmode=require"
    );
    assert_eq!(with_database("postgresql://h", "t"), "postgresql://h/t");
}
