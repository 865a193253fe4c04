//! Turning backend failures into [`StoreError`]s.

use deis_domain::StoreError;
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

/// What a query function fails with: a diesel error still to be classified, or a store
/// error already decided by the query (a missing grant, a page out of range).
#[derive(Debug)]
pub(crate) enum Fail {
    /// The backend failed; [`classify`] decides what that means.
    Db(Error),
    /// The answer is known.
    Store(StoreError),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Fail {
    /// The store error this failure means; `what` names the record a `NotFound` is about.
    pub(crate) fn into_store_error(self, what: &'static str) -> StoreError {
        match self {
            Self::Db(e) => classify(what, e),
            Self::Store(e) => e,
        }
    }
}

/// `NotFound` when an update or delete touched no row.
pub(crate) fn found(changed: usize) -> Result<(), Error> {
    if changed == 0 {
        Err(Error::NotFound)
    } else {
        Ok(())
    }
}

/// Unique indexes -> the field a `Conflict` names. Each entry: the columns SQLite lists in
/// `UNIQUE constraint failed: ...`, the index name PostgreSQL reports, the field.
const UNIQUE_FIELDS: &[(&str, &str, &str)] = &[
    ("users.username", "users_username_key", "username"),
    ("apps.id", "apps_id_key", "id"),
    ("keys.owner, keys.key_id", "keys_owner_key_id_key", "id"),
    ("keys.public_key", "keys_public_key_key", "public"),
    ("domains.domain", "domains_domain_key", "domain"),
    (
        "releases.app, releases.version",
        "releases_app_version_key",
        "version",
    ),
    ("apps.uuid", "apps_uuid_key", "uuid"),
    ("builds.uuid", "builds_uuid_key", "uuid"),
    ("configs.uuid", "configs_uuid_key", "uuid"),
    ("releases.uuid", "releases_uuid_key", "uuid"),
    ("containers.uuid", "containers_uuid_key", "uuid"),
    ("keys.uuid", "keys_uuid_key", "uuid"),
    ("pushes.uuid", "pushes_uuid_key", "uuid"),
    (
        "grants.app, grants.username",
        "grants_app_username_key",
        "username",
    ),
    ("settings.name", "settings_pkey", "name"),
    ("certs.common_name", "certs_common_name_key", "common_name"),
];

/// The one mapping from diesel errors to store errors.
///
/// `NotFound` and a missing referenced row (foreign key) are `NotFound(what)`; a unique
/// violation is `Conflict(<field>)`; a lost connection or a database too busy to answer is
/// `Unavailable`; anything else is `Backend`.
pub(crate) fn classify(what: &'static str, e: Error) -> StoreError {
    match e {
        Error::NotFound | Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound(what)
        }
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            StoreError::Conflict(conflicting_field(info.as_ref()))
        }
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::ReadOnlyTransaction,
            info,
        ) => StoreError::Unavailable(info.message().to_owned()),
        Error::DatabaseError(_, info)
            if is_busy(info.message()) || cannot_write(info.message()) =>
        {
            StoreError::Unavailable(info.message().to_owned())
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// The field a unique violation is about: a known index, otherwise the (last) column
/// SQLite names or the index PostgreSQL names.
fn conflicting_field(info: &dyn DatabaseErrorInformation) -> String {
    let message = info.message();
    let constraint = info.constraint_name();
    let sqlite_columns = message.strip_prefix("UNIQUE constraint failed: ");
    let known = UNIQUE_FIELDS
        .iter()
        .find(|(columns, index, _)| sqlite_columns == Some(*columns) || constraint == Some(*index));
    match (known, constraint, sqlite_columns) {
        (Some((_, _, field)), _, _) => (*field).to_owned(),
        (None, Some(index), _) => index.to_owned(),
        (None, None, Some(columns)) => columns
            .rsplit(['.', ' '])
            .next()
            .unwrap_or(columns)
            .to_owned(),
        (None, None, None) => message.to_owned(),
    }
}

/// SQLite's answer when the busy timeout ran out.
pub(crate) fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// What the backends answer when the database cannot take writes (or be read) right now: a
/// read-only or full SQLite file (`SQLITE_READONLY`, `SQLITE_FULL`), a failing disk
/// (`SQLITE_IOERR`), a file that cannot be opened or is no database (`SQLITE_CANTOPEN`,
/// `SQLITE_NOTADB`), a PostgreSQL server out of disk space.
fn cannot_write(message: &str) -> bool {
    const MESSAGES: &[&str] = &[
        "attempt to write a readonly database",
        "database or disk is full",
        "disk I/O error",
        "unable to open database file",
        "file is not a database",
        "No space left on device",
        "could not extend file",
    ];
    MESSAGES.iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info {
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn unique(message: &'static str, constraint: Option<&'static str>) -> StoreError {
        let info = Info {
            message,
            constraint,
        };
        classify(
            "app",
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(info)),
        )
    }

    fn conflict(e: StoreError) -> String {
        match e {
            StoreError::Conflict(field) => field,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn unique_violations_name_the_field_on_both_backends() {
        let sqlite = |m| conflict(unique(m, None));
        assert_eq!(
            sqlite("UNIQUE constraint failed: keys.owner, keys.key_id"),
            "id"
        );
        assert_eq!(
            sqlite("UNIQUE constraint failed: keys.public_key"),
            "public"
        );
        assert_eq!(
            sqlite("UNIQUE constraint failed: releases.app, releases.version"),
            "version"
        );
        assert_eq!(sqlite("UNIQUE constraint failed: builds.uuid"), "uuid");
        assert_eq!(sqlite("UNIQUE constraint failed: other.a, other.b"), "b");
        let pg = |c| {
            conflict(unique(
                "duplicate key value violates unique constraint",
                Some(c),
            ))
        };
        assert_eq!(pg("keys_owner_key_id_key"), "id");
        assert_eq!(pg("domains_domain_key"), "domain");
        assert_eq!(pg("users_username_key"), "username");
        assert_eq!(pg("builds_uuid_key"), "uuid");
        assert_eq!(pg("some_other_key"), "some_other_key");
    }

    #[test]
    fn other_failures_keep_their_meaning() {
        assert!(matches!(
            classify("user", Error::NotFound),
            StoreError::NotFound("user")
        ));
        let busy = Info {
            message: "database is locked",
            constraint: None,
        };
        let e = Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(busy));
        assert!(matches!(classify("app", e), StoreError::Unavailable(_)));
        assert!(matches!(
            classify("app", Error::RollbackTransaction),
            StoreError::Backend(_)
        ));
    }

    /// The errors SQLite really reports for a read-only and for a full database.
    #[test]
    fn read_only_and_full_databases_are_unavailable() {
        use diesel::connection::SimpleConnection;
        use diesel::{Connection, SqliteConnection};

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("faults.db");
        let path = path.to_str().expect("utf-8 path");
        let mut rw = SqliteConnection::establish(path).expect("opens");
        rw.batch_execute("CREATE TABLE t (v TEXT NOT NULL)")
            .expect("table");

        let mut ro =
            SqliteConnection::establish(&format!("file:{path}?mode=ro")).expect("opens read-only");
        let e = ro
            .batch_execute("INSERT INTO t VALUES ('x')")
            .expect_err("a read-only database takes no writes");
        assert!(
            matches!(classify("app", e), StoreError::Unavailable(_)),
            "read-only"
        );

        rw.batch_execute("PRAGMA max_page_count = 2").expect("cap");
        let e = rw
            .batch_execute(&format!("INSERT INTO t VALUES ('{}')", "x".repeat(100_000)))
            .expect_err("a full database takes no writes");
        assert!(
            matches!(classify("app", e), StoreError::Unavailable(_)),
            "full"
        );
    }
}
