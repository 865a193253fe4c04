//! [`DieselStore`]: the `Store` port over an r2d2 pool of diesel connections.

use std::sync::Arc;

use async_trait::async_trait;
use deis_domain::EventFeed;
use deis_domain::store::{AppScope, StoreResult};
use deis_domain::{
    App, AppLock, Build, Certificate, Config, Container, ContainerState, Domain, Event, Failures,
    Key, NewCertificate, NewRelease, NewUser, Page, PageSel, Push, Release, Store, StoreError,
    Structure, User,
};
use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::cache::ReadCache;
use crate::conn::{DbConn, DbPool, Target, lazy_pool, ping, pool, run_migrations};
use crate::error::Fail;
use crate::file::DbFile;
use crate::lock::{LocalLocks, lock_shared};
use crate::{apps, certs, containers, domains, events, keys, releases, throttle, users};

/// Connections of the pool at one moment (see [`DieselStore::pool_use`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open.
    pub open: u32,
    /// Open connections nobody uses.
    pub idle: u32,
    /// The pool's size.
    pub max: u32,
}

/// Committed events kept for a follower that is behind; one further behind skips what it
/// missed (and says so in the controller's log).
const FEED_BACKLOG: usize = 1024;

/// The durable store of the controller: a pool of connections to one database.
#[derive(Debug)]
pub struct DieselStore {
    pool: DbPool,
    locks: LocalLocks,
    /// PostgreSQL only: connections that hold advisory app locks.
    lock_pool: Option<DbPool>,
    /// SQLite only (this process makes every write): cached users and app lists.
    cache: Option<ReadCache>,
    /// SQLite only: the file opened, checked around every use of a connection.
    file: Option<Arc<DbFile>>,
    /// Events committed by this process, to every [`Store::event_feed`].
    feed: broadcast::Sender<Event>,
}

/// Applies the migrations `url`'s database has not seen yet; returns their names, oldest first.
///
/// Blocks: call it from `main` or a blocking thread.
pub fn migrate(url: &str) -> Result<Vec<String>, StoreError> {
    let target = Target::parse(url)?;
    let pool = pool(&target, 1)?;
    let mut conn = pool
        .get()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    run_migrations(&mut conn)
}

impl DieselStore {
    /// Opens the database at `url` with a pool of `pool_size` connections and migrates it.
    ///
    /// `postgres://...` (or `postgresql://...`) selects PostgreSQL; `sqlite://PATH`,
    /// `sqlite:PATH` or a bare path selects a SQLite file, created with its folder if needed.
    /// On PostgreSQL, app locks use up to `pool_size` further connections, opened on demand.
    ///
    /// Blocks: call it from `main` or a blocking thread.
    pub fn open(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let target = Target::parse(url)?;
        let pool = pool(&target, pool_size)?;
        let lock_pool = match target {
            Target::Postgres(_) => Some(lazy_pool(&target, pool_size)?),
            Target::Sqlite(_) => None,
        };
        let mut conn = pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let applied = run_migrations(&mut conn)?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "database migrated");
        }
        let cache = matches!(target, Target::Sqlite(_)).then(ReadCache::new);
        let file = match &target {
            Target::Sqlite(path) => Some(Arc::new(DbFile::at(path)?)),
            Target::Postgres(_) => None,
        };
        Ok(Self {
            pool,
            locks: LocalLocks::default(),
            lock_pool,
            cache,
            file,
            feed: broadcast::channel(FEED_BACKLOG).0,
        })
    }

    /// How the connection pool is used now: connections open, of which idle, and the most it
    /// opens (app-lock connections of PostgreSQL not counted).
    pub fn pool_use(&self) -> PoolUse {
        let state = self.pool.state();
        PoolUse {
            open: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// Before answering from the read cache: `Unavailable` when the SQLite file opened is no
    /// longer at its path (a check younger than 100 ms is trusted).
    fn check_file(&self) -> StoreResult<()> {
        self.file.as_deref().map_or(Ok(()), DbFile::check_recent)
    }

    /// Forgets cached users after a write to the users table (SQLite only).
    fn users_changed(&self) {
        if let Some(cache) = &self.cache {
            cache.users_changed();
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool, keeping the caller's span.
    /// `what` names the record a `NotFound` is about.
    async fn with_conn<T, E, F>(&self, what: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        E: Into<Fail>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        let file = self.file.clone();
        let feed = self.feed.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            // Before: do not write into a file that is not the one at the path. After: a write
            // that raced a move is not reported as done.
            if let Some(file) = file.as_deref() {
                file.check()?;
            }
            let mut conn = pool
                .get()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            events::take_inserted();
            let result = f(&mut conn).map_err(|e| e.into().into_store_error(what));
            let inserted = events::take_inserted();
            if let Some(file) = file.as_deref() {
                file.check()?;
            }
            if result.is_ok() {
                for event in inserted {
                    // Nobody following is fine.
                    let _ = feed.send(event);
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for DieselStore {
    async fn lock_app(&self, app: &str) -> StoreResult<Box<dyn AppLock>> {
        match &self.lock_pool {
            Some(lock_pool) => Ok(Box::new(lock_shared(&self.locks, lock_pool, app).await?)),
            None => Ok(Box::new(self.locks.lock(app).await)),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with_conn("database", ping).await
    }

    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.with_conn("setting", move |c| {
            events::setting_or_insert(c, &name, &value)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.with_conn("user", move |c| users::create(c, user, false))
            .await
    }

    async fn create_first_admin(&self, user: NewUser) -> StoreResult<User> {
        self.with_conn("user", move |c| users::create(c, user, true))
            .await
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<User> {
        self.check_file()?;
        let seen = match self.cache.as_ref().map(|cache| cache.user(id)) {
            Some(Ok(user)) => return Ok(user),
            Some(Err(seen)) => Some(seen),
            None => None,
        };
        let user = self.with_conn("user", move |c| users::by_id(c, id)).await?;
        if let (Some(cache), Some(seen)) = (&self.cache, seen) {
            cache.fill_user(&user, seen);
        }
        Ok(user)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        let username = username.to_owned();
        self.with_conn("user", move |c| users::by_name(c, &username))
            .await
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<User> {
        let hash = password_hash.to_owned();
        let result = self
            .with_conn("user", move |c| users::set_password(c, user_id, &hash))
            .await;
        if let Some(cache) = &self.cache {
            cache.users_changed();
        }
        result
    }

    async fn touch_login(&self, user_id: i64) -> StoreResult<()> {
        self.with_conn("user", move |c| users::touch_login(c, user_id))
            .await
    }

    async fn set_superuser(&self, username: &str, on: bool) -> StoreResult<()> {
        let username = username.to_owned();
        let result = self
            .with_conn("user", move |c| users::set_superuser(c, &username, on))
            .await;
        if let Some(cache) = &self.cache {
            cache.users_changed();
        }
        result
    }

    async fn list_admins(&self, page: PageSel) -> StoreResult<Page<User>> {
        self.with_conn("user", move |c| users::admins(c, page))
            .await
    }

    async fn delete_user(&self, user_id: i64) -> StoreResult<Vec<String>> {
        let result = self
            .with_conn("user", move |c| users::delete(c, user_id))
            .await;
        if let Some(cache) = &self.cache {
            cache.users_changed();
            cache.apps_changed();
        }
        result
    }

    async fn failures(&self, key: &str, window: i64) -> StoreResult<Failures> {
        let key = key.to_owned();
        self.with_conn("failures", move |c| throttle::failures(c, &key, window))
            .await
    }

    async fn add_failure(&self, key: &str, window: i64) -> StoreResult<Failures> {
        let key = key.to_owned();
        self.with_conn("failures", move |c| throttle::add(c, &key, window))
            .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.with_conn("failures", move |c| throttle::clear(c, &key))
            .await
    }

    async fn delete_user_without_apps(&self, user_id: i64) -> StoreResult<()> {
        let result = self
            .with_conn("user", move |c| users::delete_without_apps(c, user_id))
            .await;
        self.users_changed();
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn list_users(&self, page: PageSel) -> StoreResult<Page<User>> {
        self.with_conn("user", move |c| users::list(c, page)).await
    }

    async fn bump_token_generation(&self, user_id: i64) -> StoreResult<User> {
        let result = self
            .with_conn("user", move |c| users::bump_generation(c, user_id))
            .await;
        self.users_changed();
        result
    }

    async fn bump_all_token_generations(&self) -> StoreResult<()> {
        let result = self.with_conn("user", users::bump_all_generations).await;
        self.users_changed();
        result
    }

    async fn create_app(
        &self,
        app: App,
        config: Config,
        release: Release,
        events: Vec<String>,
    ) -> StoreResult<()> {
        let result = self
            .with_conn("user", move |c| {
                apps::create(c, &app, &config, &release, &events)
            })
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn app(&self, id: &str) -> StoreResult<App> {
        let id = id.to_owned();
        self.with_conn("app", move |c| apps::get(c, &id)).await
    }

    fn app_lists_version(&self) -> Option<u64> {
        self.cache.as_ref().map(ReadCache::apps_generation)
    }

    async fn list_apps(&self, scope: AppScope, page: PageSel) -> StoreResult<Page<App>> {
        self.check_file()?;
        let seen = match self.cache.as_ref().map(|cache| cache.apps(&scope, page)) {
            Some(Ok(apps)) => return Ok(apps),
            Some(Err(seen)) => Some(seen),
            None => None,
        };
        let key = scope.clone();
        let apps = self
            .with_conn("app", move |c| apps::list(c, &key, page))
            .await?;
        if let (Some(cache), Some(seen)) = (&self.cache, seen) {
            cache.fill_apps(&scope, page, &apps, seen);
        }
        Ok(apps)
    }

    async fn all_app_ids(&self) -> StoreResult<Vec<String>> {
        self.with_conn("app", apps::all_ids).await
    }

    async fn count_owned_apps(&self, owner: &str) -> StoreResult<u64> {
        let owner = owner.to_owned();
        self.with_conn("app", move |c| apps::count_owned(c, &owner))
            .await
    }

    async fn delete_app(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        let result = self.with_conn("app", move |c| apps::delete(c, &id)).await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn transfer_app(&self, id: &str, owner: &str, event: String) -> StoreResult<App> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        let result = self
            .with_conn("app", move |c| apps::transfer(c, &id, &owner, event))
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn is_collaborator(&self, app: &str, username: &str) -> StoreResult<bool> {
        let (app, username) = (app.to_owned(), username.to_owned());
        self.with_conn("app", move |c| apps::is_collaborator(c, &app, &username))
            .await
    }

    async fn grant(&self, app: &str, username: &str, event: String) -> StoreResult<()> {
        let (app, username) = (app.to_owned(), username.to_owned());
        let result = self
            .with_conn("user", move |c| apps::grant(c, &app, &username, event))
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn revoke(&self, app: &str, username: &str, event: String) -> StoreResult<()> {
        let (app, username) = (app.to_owned(), username.to_owned());
        let result = self
            .with_conn("grant", move |c| apps::revoke(c, &app, &username, event))
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn collaborators(&self, app: &str) -> StoreResult<Vec<String>> {
        let app = app.to_owned();
        self.with_conn("app", move |c| apps::collaborators(c, &app))
            .await
    }

    async fn latest_release(&self, app: &str) -> StoreResult<Release> {
        let app = app.to_owned();
        self.with_conn("release", move |c| releases::latest(c, &app))
            .await
    }

    async fn release(&self, app: &str, version: i64) -> StoreResult<Release> {
        let app = app.to_owned();
        self.with_conn("release", move |c| releases::get(c, &app, version))
            .await
    }

    async fn list_releases(&self, app: &str, page: PageSel) -> StoreResult<Page<Release>> {
        let app = app.to_owned();
        self.with_conn("release", move |c| releases::list(c, &app, page))
            .await
    }

    async fn config(&self, uuid: Uuid) -> StoreResult<Config> {
        self.with_conn("config", move |c| releases::config(c, uuid))
            .await
    }

    async fn build(&self, app: &str, uuid: Uuid) -> StoreResult<Build> {
        let app = app.to_owned();
        self.with_conn("build", move |c| releases::build(c, &app, uuid))
            .await
    }

    async fn list_builds(&self, app: &str, page: PageSel) -> StoreResult<Page<Build>> {
        let app = app.to_owned();
        self.with_conn("build", move |c| releases::builds(c, &app, page))
            .await
    }

    async fn commit_release(&self, step: NewRelease) -> StoreResult<()> {
        let result = self
            .with_conn("app", move |c| releases::commit(c, &step))
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn withdraw_release(&self, step: NewRelease) -> StoreResult<()> {
        let result = self
            .with_conn("release", move |c| releases::withdraw(c, &step))
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn list_containers(
        &self,
        app: &str,
        proc_type: Option<&str>,
        page: PageSel,
    ) -> StoreResult<Page<Container>> {
        let app = app.to_owned();
        let proc_type = proc_type.map(str::to_owned);
        self.with_conn("container", move |c| {
            containers::list(c, &app, proc_type.as_deref(), page)
        })
        .await
    }

    async fn containers(&self, app: &str) -> StoreResult<Vec<Container>> {
        let app = app.to_owned();
        self.with_conn("container", move |c| containers::all(c, &app))
            .await
    }

    async fn count_containers(&self, runs_since: OffsetDateTime) -> StoreResult<u64> {
        self.with_conn("container", move |c| containers::count(c, runs_since))
            .await
    }

    async fn commit_scale(
        &self,
        app: &str,
        structure: &Structure,
        add: &[Container],
        remove: &[Container],
        event: Option<String>,
    ) -> StoreResult<()> {
        let (app, structure) = (app.to_owned(), structure.clone());
        let (add, remove) = (add.to_vec(), remove.to_vec());
        let result = self
            .with_conn("app", move |c| {
                containers::scale(c, &app, &structure, &add, &remove, event)
            })
            .await;
        if let Some(cache) = &self.cache {
            cache.apps_changed();
        }
        result
    }

    async fn set_states(&self, states: &[(Uuid, ContainerState)]) -> StoreResult<()> {
        let states = states.to_vec();
        self.with_conn("container", move |c| containers::set_states(c, &states))
            .await
    }

    async fn add_domain(&self, domain: Domain, events: Vec<String>) -> StoreResult<()> {
        self.with_conn("app", move |c| domains::add(c, &domain, &events))
            .await
    }

    async fn list_domains(&self, app: &str, page: PageSel) -> StoreResult<Page<Domain>> {
        let app = app.to_owned();
        self.with_conn("domain", move |c| domains::list(c, &app, page))
            .await
    }

    async fn remove_domain(&self, app: &str, domain: &str, events: Vec<String>) -> StoreResult<()> {
        let (app, domain) = (app.to_owned(), domain.to_owned());
        self.with_conn("domain", move |c| {
            domains::remove(c, &app, &domain, &events)
        })
        .await
    }

    async fn add_key(&self, key: Key) -> StoreResult<()> {
        self.with_conn("user", move |c| keys::add(c, &key)).await
    }

    async fn list_keys(&self, owner: &str, page: PageSel) -> StoreResult<Page<Key>> {
        let owner = owner.to_owned();
        self.with_conn("key", move |c| keys::list(c, &owner, page))
            .await
    }

    async fn key(&self, owner: &str, id: &str) -> StoreResult<Key> {
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.with_conn("key", move |c| keys::get(c, &owner, &id))
            .await
    }

    async fn remove_key(&self, owner: &str, id: &str) -> StoreResult<()> {
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.with_conn("key", move |c| keys::remove(c, &owner, &id))
            .await
    }

    async fn key_by_data(&self, data: &str) -> StoreResult<Key> {
        let data = data.to_owned();
        self.with_conn("key", move |c| keys::by_data(c, &data))
            .await
    }

    async fn add_push(&self, push: Push) -> StoreResult<()> {
        self.with_conn("app", move |c| events::add_push(c, &push))
            .await
    }

    async fn add_cert(&self, cert: NewCertificate) -> StoreResult<Certificate> {
        self.with_conn("user", move |c| certs::add(c, &cert)).await
    }

    async fn list_certs(
        &self,
        owner: Option<&str>,
        page: PageSel,
    ) -> StoreResult<Page<Certificate>> {
        let owner = owner.map(str::to_owned);
        self.with_conn("cert", move |c| certs::list(c, owner.as_deref(), page))
            .await
    }

    async fn cert(&self, common_name: &str) -> StoreResult<Certificate> {
        let name = common_name.to_owned();
        self.with_conn("cert", move |c| certs::get(c, &name)).await
    }

    async fn remove_cert(&self, common_name: &str) -> StoreResult<()> {
        let name = common_name.to_owned();
        self.with_conn("cert", move |c| certs::remove(c, &name))
            .await
    }

    async fn all_certs(&self) -> StoreResult<Vec<Certificate>> {
        self.with_conn("cert", certs::all).await
    }

    async fn append_events(&self, app: &str, messages: Vec<String>) -> StoreResult<()> {
        let app = app.to_owned();
        self.with_conn("app", move |c| events::append(c, &app, &messages))
            .await
    }

    fn event_feed(&self) -> EventFeed {
        futures_util::stream::unfold(self.feed.subscribe(), |mut feed| async move {
            loop {
                match feed.recv().await {
                    Ok(event) => return Some((event, feed)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a log follower fell behind the events");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    async fn events(&self, app: &str, limit: u64) -> StoreResult<Vec<Event>> {
        let app = app.to_owned();
        self.with_conn("app", move |c| events::last(c, &app, limit))
            .await
    }
}
