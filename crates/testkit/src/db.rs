//! A fresh, migrated database per test: a SQLite file in a temporary directory by default, or a
//! new PostgreSQL database when `DEIS_TEST_BACKEND=postgres` and `DEIS_TEST_POSTGRES_URL` name a
//! server (its role must be allowed to create databases). Dropped with the guard.

use std::sync::Arc;

use deis_domain::Store;
use deis_store::DieselStore;
use diesel::{Connection, PgConnection, RunQueryDsl};

enum Place {
    /// The directory holding the file; deleting it deletes the database.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

/// A test database and the store opened on it.
pub struct TestDb {
    store: Option<Arc<DieselStore>>,
    place: Place,
    url: String,
}

/// Replaces the database name (the path) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let base = match head.rfind('/') {
        Some(i) if i > head.find("://").map_or(0, |s| s + 2) => &head[..i],
        _ => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// The backend `DEIS_TEST_BACKEND` selects (`sqlite` unless it says `postgres`).
    pub async fn new() -> Self {
        let postgres = std::env::var("DEIS_TEST_BACKEND").is_ok_and(|b| b == "postgres");
        tokio::task::spawn_blocking(move || {
            if postgres {
                Self::postgres()
            } else {
                Self::sqlite()
            }
        })
        .await
        .expect("opening the test database")
    }

    /// A SQLite file in a new temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("deis.db").display());
        let store = DieselStore::open(&url, 8).expect("open sqlite store");
        Self {
            store: Some(Arc::new(store)),
            place: Place::Sqlite { _dir: dir },
            url,
        }
    }

    /// A new database on the server `DEIS_TEST_POSTGRES_URL` names.
    pub fn postgres() -> Self {
        let admin_url = std::env::var("DEIS_TEST_POSTGRES_URL").expect(
            "DEIS_TEST_BACKEND=postgres needs DEIS_TEST_POSTGRES_URL (cargo xtask test sets both)",
        );
        let name = format!("deis_api_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin =
            PgConnection::establish(&admin_url).expect("DEIS_TEST_POSTGRES_URL connects");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("test database created");
        let url = with_database(&admin_url, &name);
        let store = DieselStore::open(&url, 8).expect("open postgres store");
        Self {
            store: Some(Arc::new(store)),
            place: Place::Postgres { admin_url, name },
            url,
        }
    }

    /// The URL of this database (what `DEIS_DATABASE_URL` would say).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store on this database.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone().expect("the store is open")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.store.take();
        match &self.place {
            Place::Sqlite { .. } => {}
            Place::Postgres { admin_url, name } => {
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
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5/db?sslmode=disable", "x"),
            "postgres://u@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
