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

use crate::cache::{Liveness, ReadCache};
use crate::conn::{
    DbConn, DbPool, Target, checked_in, checkout, lazy_pool, notify, ping, pool, run_migrations,
    write_tx,
};
use crate::error::Fail;
use crate::file::DbFile;
use crate::listen::{Listener, spawn};
use crate::lock::{LocalLocks, lock_shared};
use crate::notice::{Change, encode};
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
/// Changes kept for a subscriber that lags behind (it then hears `Lagged`).
const FEED_CAPACITY: usize = 1024;

/// The durable store of the controller: a pool of connections to one database.
#[derive(Debug)]
pub struct DieselStore {
    pool: DbPool,
    /// The database the pool connects to (to replace a connection that died).
    target: Arc<Target>,
    locks: LocalLocks,
    /// PostgreSQL only: connections that hold advisory app locks.
    lock_pool: Option<DbPool>,
    /// Cached users and app lists: on SQLite (this process makes every write) always, on
    /// PostgreSQL while the listener hears the other replicas.
    cache: Option<Arc<ReadCache>>,
    /// SQLite only: the file opened, checked around every use of a connection.
    file: Option<Arc<DbFile>>,
    /// Events committed by this process, to every [`Store::event_feed`].
    events: broadcast::Sender<Event>,
    /// This store among the replicas: the origin its notices carry.
    origin: String,
    /// Changes made by other replicas, for [`DieselStore::subscribe`].
    feed: broadcast::Sender<Change>,
    /// PostgreSQL only: the thread listening for other replicas' notices.
    listener: Option<Listener>,
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
        let origin = Uuid::new_v4().simple().to_string();
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (cache, file, listener) = match &target {
            Target::Sqlite(path) => (
                Arc::new(ReadCache::new()),
                Some(Arc::new(DbFile::at(path)?)),
                None,
            ),
            Target::Postgres(url) => {
                let gate = Arc::new(Liveness::new());
                let cache = Arc::new(ReadCache::gated(gate.clone()));
                let listener = spawn(
                    url.clone(),
                    origin.clone(),
                    cache.clone(),
                    gate,
                    feed.clone(),
                )
                .map_err(|e| StoreError::Backend(format!("starting the replica listener: {e}")))?;
                (cache, None, Some(listener))
            }
        };
        Ok(Self {
            pool,
            target: Arc::new(target),
            locks: LocalLocks::default(),
            lock_pool,
            cache: Some(cache),
            file,
            events: broadcast::channel(FEED_BACKLOG).0,
            origin,
            feed,
            listener,
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

    /// Changes other replicas committed (PostgreSQL; nothing on SQLite, where this process
    /// is the only writer), as their notices arrive: the routes of an app, certificates, and
    /// [`Change::Everything`] after the listener reconnected (notices may have been missed).
    /// A receiver that falls more than 1024 changes behind hears `Lagged`: treat it as
    /// everything.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    /// The cache, when reads may use it now.
    fn usable_cache(&self) -> Option<&ReadCache> {
        self.cache.as_deref().filter(|cache| cache.usable())
    }

    /// Runs the write `f`, then drops what `changes` make stale here; on PostgreSQL `f` runs
    /// in a transaction that also tells the other replicas (committed with it or not at all).
    async fn write<T, E, F>(&self, what: &'static str, changes: Vec<Change>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        E: Into<Fail>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        self.write_more(what, changes, |_| Vec::new(), f).await
    }

    /// [`DieselStore::write`] whose changes also depend on what `f` returned (`more`).
    async fn write_more<T, E, F, M>(
        &self,
        what: &'static str,
        changes: Vec<Change>,
        more: M,
        f: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        E: Into<Fail>,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        M: FnOnce(&T) -> Vec<Change> + Send + 'static,
    {
        let origin = self.listener.is_some().then(|| self.origin.clone());
        let base = changes.clone();
        let result = self
            .with_conn(what, move |c| {
                let step = |c: &mut DbConn| -> Result<(T, Vec<Change>), Fail> {
                    let value = f(c).map_err(Into::into)?;
                    let mut all = base;
                    all.extend(more(&value));
                    if let Some(origin) = &origin {
                        notify(c, &encode(origin, &all))?;
                    }
                    Ok((value, all))
                };
                if origin.is_some() {
                    write_tx(c, step)
                } else {
                    step(c)
                }
            })
            .await;
        // A failed write changed nothing, unless it failed after committing: forget anyway.
        let (value, changed) = match result {
            Ok((value, all)) => (Ok(value), all),
            Err(e) => (Err(e), changes),
        };
        if let Some(cache) = &self.cache {
            cache.apply(&changed);
        }
        value
    }

    /// Before answering from the read cache: `Unavailable` when the SQLite file opened is no
    /// longer at its path (a check younger than 100 ms is trusted).
    fn check_file(&self) -> StoreResult<()> {
        self.file.as_deref().map_or(Ok(()), DbFile::check_recent)
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
        let target = self.target.clone();
        let file = self.file.clone();
        let announce = self.events.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            // Before: do not write into a file that is not the one at the path. After: a write
            // that raced a move is not reported as done.
            if let Some(file) = file.as_deref() {
                file.check()?;
            }
            let mut conn = checkout(&pool, &target)?;
            events::take_inserted();
            let result = f(&mut conn).map_err(|e| e.into().into_store_error(what));
            let inserted = events::take_inserted();
            checked_in(&mut conn, result.is_ok());
            if let Some(file) = file.as_deref() {
                file.check()?;
            }
            if result.is_ok() {
                for event in inserted {
                    // Nobody following is fine.
                    let _ = announce.send(event);
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
            Some(lock_pool) => Ok(Box::new(
                lock_shared(&self.locks, lock_pool, &self.target, app).await?,
            )),
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
        let cache = self.usable_cache();
        let seen = match cache.map(|cache| cache.user(id)) {
            Some(Ok(user)) => return Ok(user),
            Some(Err(seen)) => Some(seen),
            None => None,
        };
        let user = self.with_conn("user", move |c| users::by_id(c, id)).await?;
        if let (Some(cache), Some(seen)) = (cache, seen) {
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
        self.write("user", vec![Change::User(user_id)], move |c| {
            users::set_password(c, user_id, &hash)
        })
        .await
    }

    async fn touch_login(&self, user_id: i64) -> StoreResult<()> {
        self.with_conn("user", move |c| users::touch_login(c, user_id))
            .await
    }

    async fn set_superuser(&self, username: &str, on: bool) -> StoreResult<()> {
        let username = username.to_owned();
        self.write("user", vec![Change::Users], move |c| {
            users::set_superuser(c, &username, on)
        })
        .await
    }

    async fn list_admins(&self, page: PageSel) -> StoreResult<Page<User>> {
        self.with_conn("user", move |c| users::admins(c, page))
            .await
    }

    async fn delete_user(&self, user_id: i64) -> StoreResult<Vec<String>> {
        self.write_more(
            "user",
            vec![Change::User(user_id), Change::AppLists],
            |apps: &Vec<String>| apps.iter().cloned().map(Change::Routes).collect(),
            move |c| users::delete(c, user_id),
        )
        .await
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
        let changes = vec![Change::User(user_id), Change::AppLists, Change::Certs];
        self.write("user", changes, move |c| {
            users::delete_without_apps(c, user_id)
        })
        .await
    }

    async fn list_users(&self, page: PageSel) -> StoreResult<Page<User>> {
        self.with_conn("user", move |c| users::list(c, page)).await
    }

    async fn bump_token_generation(&self, user_id: i64) -> StoreResult<User> {
        self.write("user", vec![Change::User(user_id)], move |c| {
            users::bump_generation(c, user_id)
        })
        .await
    }

    async fn bump_all_token_generations(&self) -> StoreResult<()> {
        self.write("user", vec![Change::Users], users::bump_all_generations)
            .await
    }

    async fn create_app(
        &self,
        app: App,
        config: Config,
        release: Release,
        events: Vec<String>,
    ) -> StoreResult<()> {
        let changes = vec![Change::App(app.id.clone()), Change::AppLists];
        self.write("user", changes, move |c| {
            apps::create(c, &app, &config, &release, &events)
        })
        .await
    }

    async fn app(&self, id: &str) -> StoreResult<App> {
        let id = id.to_owned();
        self.with_conn("app", move |c| apps::get(c, &id)).await
    }

    fn app_lists_version(&self) -> Option<u64> {
        self.usable_cache().map(ReadCache::apps_generation)
    }

    async fn list_apps(&self, scope: AppScope, page: PageSel) -> StoreResult<Page<App>> {
        self.check_file()?;
        let cache = self.usable_cache();
        let seen = match cache.map(|cache| cache.apps(&scope, page)) {
            Some(Ok(apps)) => return Ok(apps),
            Some(Err(seen)) => Some(seen),
            None => None,
        };
        let key = scope.clone();
        let apps = self
            .with_conn("app", move |c| apps::list(c, &key, page))
            .await?;
        if let (Some(cache), Some(seen)) = (cache, seen) {
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
        let changes = vec![
            Change::App(id.to_owned()),
            Change::AppLists,
            Change::Routes(id.to_owned()),
        ];
        let id = id.to_owned();
        self.write("app", changes, move |c| apps::delete(c, &id))
            .await
    }

    async fn transfer_app(&self, id: &str, owner: &str, event: String) -> StoreResult<App> {
        let changes = vec![Change::App(id.to_owned()), Change::AppLists];
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.write("app", changes, move |c| {
            apps::transfer(c, &id, &owner, event)
        })
        .await
    }

    async fn is_collaborator(&self, app: &str, username: &str) -> StoreResult<bool> {
        let (app, username) = (app.to_owned(), username.to_owned());
        self.with_conn("app", move |c| apps::is_collaborator(c, &app, &username))
            .await
    }

    async fn grant(&self, app: &str, username: &str, event: String) -> StoreResult<()> {
        let (app, username) = (app.to_owned(), username.to_owned());
        self.write("user", vec![Change::AppLists], move |c| {
            apps::grant(c, &app, &username, event)
        })
        .await
    }

    async fn revoke(&self, app: &str, username: &str, event: String) -> StoreResult<()> {
        let (app, username) = (app.to_owned(), username.to_owned());
        self.write("grant", vec![Change::AppLists], move |c| {
            apps::revoke(c, &app, &username, event)
        })
        .await
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
        let changes = app_changes(&step.release.app);
        self.write("app", changes, move |c| releases::commit(c, &step))
            .await
    }

    async fn withdraw_release(&self, step: NewRelease) -> StoreResult<()> {
        let changes = app_changes(&step.release.app);
        self.write("release", changes, move |c| releases::withdraw(c, &step))
            .await
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
        let changes = app_changes(app);
        let (app, structure) = (app.to_owned(), structure.clone());
        let (add, remove) = (add.to_vec(), remove.to_vec());
        self.write("app", changes, move |c| {
            containers::scale(c, &app, &structure, &add, &remove, event)
        })
        .await
    }

    async fn set_states(&self, states: &[(Uuid, ContainerState)]) -> StoreResult<()> {
        if states.is_empty() {
            return Ok(());
        }
        let states = states.to_vec();
        self.with_conn("container", move |c| containers::set_states(c, &states))
            .await
    }

    async fn add_domain(&self, domain: Domain, events: Vec<String>) -> StoreResult<()> {
        let changes = vec![Change::Routes(domain.app.clone())];
        self.write("app", changes, move |c| domains::add(c, &domain, &events))
            .await
    }

    async fn list_domains(&self, app: &str, page: PageSel) -> StoreResult<Page<Domain>> {
        let app = app.to_owned();
        self.with_conn("domain", move |c| domains::list(c, &app, page))
            .await
    }

    async fn remove_domain(&self, app: &str, domain: &str, events: Vec<String>) -> StoreResult<()> {
        let changes = vec![Change::Routes(app.to_owned())];
        let (app, domain) = (app.to_owned(), domain.to_owned());
        self.write("domain", changes, move |c| {
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
        self.write("user", vec![Change::Certs], move |c| certs::add(c, &cert))
            .await
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
        self.write("cert", vec![Change::Certs], move |c| {
            certs::remove(c, &name)
        })
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
        futures_util::stream::unfold(self.events.subscribe(), |mut feed| async move {
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

/// What a release or scale step of `app` changes.
fn app_changes(app: &str) -> Vec<Change> {
    vec![
        Change::App(app.to_owned()),
        Change::AppLists,
        Change::Routes(app.to_owned()),
    ]
}
