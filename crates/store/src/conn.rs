//! Connections: which backend a URL names, the pool, per-connection settings, migrations
//! and write transactions.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use deis_domain::StoreError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::migration::MigrationSource;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, R2D2Connection};
use diesel::result::QueryResult;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{Fail, is_busy};
use crate::lock::ADVISORY_NAMESPACE;
use crate::notice::CHANNEL;

/// One connection to whichever backend the URL named; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConn {
    /// A PostgreSQL server.
    Pg(PgConnection),
    /// A SQLite database file.
    Sqlite(SqliteConnection),
}

/// The pool every store method draws from.
pub(crate) type DbPool = Pool<Manager>;

/// The backend type queries are built for.
pub(crate) type Db = MultiBackend;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// How long a caller waits for a pooled connection before the store reports `Unavailable`.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(30);

/// Statements run on every new SQLite connection: concurrent readers beside one writer,
/// waiting for the write lock instead of failing, enforced foreign keys.
/// The busy timeout comes first, so that switching to WAL waits for a concurrent opener too.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// The database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A PostgreSQL server and database, as a libpq URL.
    Postgres(String),
    /// A SQLite file at this path.
    Sqlite(PathBuf),
}

impl Target {
    /// Reads `postgres://...` / `postgresql://...`, `sqlite://PATH`, `sqlite:PATH` or a bare path.
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(StoreError::Backend(format!("no database path in {url:?}")));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// Makes sure the database can be created: the parent folder of a SQLite file exists.
    /// Creates the SQLite file's directory and switches the file to WAL once, before a pool
    /// opens connections concurrently (switching needs the file to itself).
    fn prepare(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(path) => {
                match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?,
                    _ => {}
                }
                let mut conn = self
                    .establish(true)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                match &mut conn {
                    DbConn::Sqlite(c) => c
                        .batch_execute(SQLITE_PRAGMAS)
                        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display()))),
                    DbConn::Pg(_) => Ok(()),
                }
            }
            Self::Postgres(_) => Ok(()),
        }
    }

    /// Opens a connection. A SQLite file is created only with `create`: the pool's
    /// connections open the file [`Target::prepare`] made and never make a new one, so a file
    /// moved away while serving is not silently replaced by an empty database.
    fn establish(&self, create: bool) -> diesel::ConnectionResult<DbConn> {
        match self {
            Self::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    diesel::ConnectionError::InvalidConnectionUrl(format!(
                        "{} is not valid UTF-8",
                        path.display()
                    ))
                })?;
                if create {
                    SqliteConnection::establish(path).map(DbConn::Sqlite)
                } else {
                    SqliteConnection::establish(&existing_file_uri(path)).map(DbConn::Sqlite)
                }
            }
            Self::Postgres(url) => PgConnection::establish(url).map(DbConn::Pg),
        }
    }
}

/// A SQLite URI naming the file at `path` for reading and writing, never creating it.
fn existing_file_uri(path: &str) -> String {
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    // An absolute path gets an empty authority, so that one starting with `//` stays a path.
    let prefix = if escaped.starts_with('/') {
        "file://"
    } else {
        "file:"
    };
    format!("{prefix}{escaped}?mode=rw")
}

/// Opens connections to one [`Target`] (the variant is chosen by the URL, never guessed).
#[derive(Debug)]
pub(crate) struct Manager {
    target: Target,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        self.target
            .establish(false)
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Applies the per-connection settings of the backend.
#[derive(Debug)]
struct Settings;

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for Settings {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        match conn {
            DbConn::Sqlite(c) => c
                .batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::r2d2::Error::QueryError),
            DbConn::Pg(_) => Ok(()),
        }
    }
}

/// Builds a pool of `size` connections to `target`, all opened now. Connections are not
/// tested on every checkout: [`checkout`] tests PostgreSQL ones that were idle for a while.
pub(crate) fn pool(target: &Target, size: u32) -> Result<DbPool, StoreError> {
    build_pool(target, size, None)
}

/// Builds a pool of up to `size` connections to `target`, opened when first needed.
pub(crate) fn lazy_pool(target: &Target, size: u32) -> Result<DbPool, StoreError> {
    build_pool(target, size, Some(0))
}

fn build_pool(target: &Target, size: u32, min_idle: Option<u32>) -> Result<DbPool, StoreError> {
    target.prepare()?;
    Pool::builder()
        .max_size(size.max(1))
        .min_idle(min_idle)
        .connection_timeout(CHECKOUT_TIMEOUT)
        .test_on_check_out(false)
        .connection_customizer(Box::new(Settings))
        .build(Manager {
            target: target.clone(),
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// How long a PostgreSQL connection that just answered is used without a test.
const TRUST_ANSWERED: Duration = Duration::from_secs(1);

/// When a pooled connection last answered a step; absent after a failed one.
struct Answered(Instant);

/// A pooled connection from [`pool`]. On PostgreSQL one that has not answered within the
/// last second (idle, or its last step failed) is tested first (a round trip) and replaced
/// by a new connection when the test fails, so a server restart costs no request, and a busy
/// pool pays no test per step.
pub(crate) fn checkout(pool: &DbPool, target: &Target) -> Result<Pooled, StoreError> {
    let mut conn = pool
        .get()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    if let Target::Postgres(_) = target {
        let trusted = Pooled::extensions(&conn)
            .get::<Answered>()
            .is_some_and(|a| a.0.elapsed() < TRUST_ANSWERED);
        if !trusted && conn.ping().is_err() {
            *conn = target
                .establish(false)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
    }
    Ok(conn)
}

/// Notes how a step on `conn` from [`checkout`] ended.
pub(crate) fn checked_in(conn: &mut Pooled, answered: bool) {
    let extensions = Pooled::extensions_mut(conn);
    if answered {
        extensions.insert(Answered(Instant::now()));
    } else {
        extensions.remove::<Answered>();
    }
}

/// A connection on loan from a pool.
pub(crate) type Pooled = diesel::r2d2::PooledConnection<Manager>;

/// Runs the migrations not yet applied; returns their names, oldest first.
///
/// All of them run in one write transaction, serialized against other processes migrating
/// the same database (SQLite's write lock; a PostgreSQL advisory lock), so replicas starting
/// together apply each migration once.
pub(crate) fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let source = match conn {
        DbConn::Sqlite(_) => SQLITE_MIGRATIONS,
        DbConn::Pg(_) => POSTGRES_MIGRATIONS,
    };
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::Backend(format!("migration failed: {e}"))
    };
    let known =
        MigrationSource::<<DbConn as Connection>::Backend>::migrations(&source).map_err(failed)?;
    let applied = write_tx(conn, |conn| {
        if let DbConn::Pg(c) = conn {
            c.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({ADVISORY_NAMESPACE}, 0)"
            ))?;
        }
        let applied = conn.run_pending_migrations(source).map_err(failed)?;
        Ok(applied.iter().map(ToString::to_string).collect::<Vec<_>>())
    })
    .map_err(|e| e.into_store_error("migration"))?;
    Ok(applied
        .iter()
        .map(|version| {
            known
                .iter()
                .map(|m| m.name())
                .find(|name| name.version().to_string() == *version)
                .map_or_else(|| version.clone(), |name| name.to_string())
        })
        .collect())
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken
/// up front, so a transaction that reads before it writes waits for other writers (busy timeout)
/// instead of failing when it tries to upgrade. On PostgreSQL it is a plain `BEGIN` (read
/// committed); steps that must see a stable table lock it explicitly ([`lock_users`]).
/// Inside a transaction already (the store's notifying writes), `f` joins it.
pub(crate) fn write_tx<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let depth = <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?;
    if depth.is_some() {
        return f(conn);
    }
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
    }
    match f(conn) {
        Ok(value) => {
            DbConn::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            DbConn::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Checks that the database answers and takes writes, without waiting for other writers.
/// SQLite: a write that changes nothing, rolled back at once (a writer holding the lock shows
/// that the file takes writes). PostgreSQL: a query, and the server must not be read-only.
pub(crate) fn ping(conn: &mut DbConn) -> Result<(), Fail> {
    match conn {
        DbConn::Sqlite(c) => {
            c.batch_execute("PRAGMA busy_timeout = 0")?;
            // A read-only file accepts `BEGIN IMMEDIATE`; the first write is refused, even
            // one that matches no row (and so changes nothing here).
            let tried = c.batch_execute("BEGIN IMMEDIATE").and_then(|()| {
                let wrote = c.batch_execute("UPDATE settings SET value = value WHERE name = ''");
                let ended = c.batch_execute("ROLLBACK");
                wrote.and(ended)
            });
            c.batch_execute(SQLITE_PRAGMAS)?;
            match tried {
                Err(diesel::result::Error::DatabaseError(_, info)) if is_busy(info.message()) => {
                    Ok(())
                }
                other => Ok(other?),
            }
        }
        DbConn::Pg(c) => {
            let read_only: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "current_setting('transaction_read_only')",
            ))
            .get_result(c)?;
            if read_only == "on" {
                Err(Fail::Store(StoreError::Unavailable(
                    "the database server is read-only".into(),
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// Inside a PostgreSQL write transaction: tells the other replicas `payload` once it commits
/// (see `notice.rs`). Nothing on SQLite, which has no other replicas.
pub(crate) fn notify(conn: &mut DbConn, payload: &str) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANNEL)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(c)?;
    }
    Ok(())
}

/// Inside a write transaction: keeps other changes of accounts out until it ends, so that
/// "has an administrator existed?" and "is this the last active administrator?" keep their
/// answer until this step is done. SQLite's `BEGIN IMMEDIATE` already did that; PostgreSQL
/// takes a self-conflicting table lock.
pub(crate) fn lock_users(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(_) => Ok(()),
        DbConn::Pg(c) => c.batch_execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_sqlite_files() {
        let file = |p: &str| Some(Target::Sqlite(PathBuf::from(p)));
        let parse = |url: &str| Target::parse(url).ok();
        assert_eq!(
            parse("sqlite:///var/lib/deis/db.sqlite3"),
            file("/var/lib/deis/db.sqlite3")
        );
        assert_eq!(parse("sqlite://data/db.sqlite3"), file("data/db.sqlite3"));
        assert_eq!(parse("sqlite:data/db.sqlite3"), file("data/db.sqlite3"));
        assert_eq!(parse("/tmp/x.db"), file("/tmp/x.db"));
        assert!(matches!(
            Target::parse("sqlite://"),
            Err(StoreError::Backend(_))
        ));
    }

    #[test]
    fn pooled_sqlite_connections_never_create_the_file() {
        assert_eq!(
            existing_file_uri("/var/lib/deis.db"),
            "file:///var/lib/deis.db?mode=rw"
        );
        assert_eq!(
            existing_file_uri("data/a?b#c%d"),
            "file:data/a%3fb%23c%25d?mode=rw"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("odd ?#% name.db");
        let target = Target::Sqlite(path.clone());
        assert!(
            target.establish(false).is_err(),
            "a missing file was opened"
        );
        assert!(!path.exists(), "a missing file was created");
        target.prepare().expect("the first open creates the file");
        assert!(path.exists());
        assert!(
            target.establish(false).is_ok(),
            "the file is opened by its URI"
        );
    }

    #[test]
    fn a_read_only_sqlite_file_fails_the_ping() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ping.db");
        let target = Target::Sqlite(path.clone());
        target.prepare().expect("created");
        let mut rw = target.establish(false).expect("opens");
        run_migrations(&mut rw).expect("migrated");
        ping(&mut rw).expect("a writable file answers the ping");
        let uri = format!("file:{}?mode=ro", path.display());
        let mut ro = DbConn::Sqlite(SqliteConnection::establish(&uri).expect("opens read-only"));
        let failed = ping(&mut ro).expect_err("a read-only file fails the ping");
        assert!(matches!(
            failed.into_store_error("database"),
            StoreError::Unavailable(_)
        ));
    }
}
