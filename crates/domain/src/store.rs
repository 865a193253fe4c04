//! The durable-state port.
//!
//! Methods are whole use-case steps: each either commits completely or not at all.
//! Implementations move blocking database work off the async executor themselves.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::certificate::{Certificate, NewCertificate};
use crate::error::StoreError;
use crate::model::{
    App, Build, Config, Container, ContainerState, Domain, Event, Key, NewRelease, NewUser, Push,
    Release, Structure, User,
};
use crate::page::{Page, PageSel};
use crate::throttle::Failures;

/// Held while one app is being changed; dropping it lets the next change in.
pub trait AppLock: Send {}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which apps a listing shows.
#[derive(Debug, Clone)]
pub enum AppScope {
    /// Every app (administrators).
    All,
    /// Apps owned by or shared with this user.
    VisibleTo(String),
}

/// Durable state of the platform.
#[async_trait]
pub trait Store: Send + Sync {
    /// Serializes changes of one app (across replicas where the backend allows).
    async fn lock_app(&self, app: &str) -> StoreResult<Box<dyn AppLock>>;

    /// Checks that the database answers and takes writes (for a file: that it is still the
    /// file opened); `Unavailable` with the reason otherwise. Cheap enough for readiness probes.
    async fn ping(&self) -> StoreResult<()>;

    /// Returns the named setting, or stores `value` under it if absent and returns that.
    async fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;

    /// Registers a user; the very first one, while no administrator has ever existed, becomes
    /// superuser (later ones never do on their own).
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    /// Registers the first administrator: only while no administrator has ever existed,
    /// `Conflict("is_superuser")` otherwise.
    async fn create_first_admin(&self, user: NewUser) -> StoreResult<User>;
    /// Looks a user up by id.
    async fn user_by_id(&self, id: i64) -> StoreResult<User>;
    /// Looks a user up by name.
    async fn user_by_name(&self, username: &str) -> StoreResult<User>;
    /// Stores a new password hash and bumps the token generation.
    async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<User>;
    /// Records a successful login.
    async fn touch_login(&self, user_id: i64) -> StoreResult<()>;
    /// Sets or clears the administrator flag; clearing it on the last active administrator is
    /// refused with `Conflict("is_superuser")`.
    async fn set_superuser(&self, username: &str, on: bool) -> StoreResult<()>;
    /// Active administrators, by registration.
    async fn list_admins(&self, page: PageSel) -> StoreResult<Page<User>>;
    /// Deletes the user and everything they own; returns the ids of the apps that went with them.
    /// The last active administrator is refused with `Conflict("is_superuser")`.
    async fn delete_user(&self, user_id: i64) -> StoreResult<Vec<String>>;
    /// Deletes the user unless they own an app (`Conflict("apps")`), checked in the same
    /// transaction; their keys, grants and certificates go with them.
    async fn delete_user_without_apps(&self, user_id: i64) -> StoreResult<()>;
    /// Every user, by registration.
    async fn list_users(&self, page: PageSel) -> StoreResult<Page<User>>;
    /// Bumps the user's token generation (their earlier tokens stop working); returns the user.
    async fn bump_token_generation(&self, user_id: i64) -> StoreResult<User>;
    /// Bumps every user's token generation.
    async fn bump_all_token_generations(&self) -> StoreResult<()>;

    /// Failures counted for `key` in window number `window` and in the one before it.
    async fn failures(&self, key: &str, window: i64) -> StoreResult<Failures>;
    /// Counts one failure of `key` in window number `window`; returns the counts after it.
    /// Keys without failures in this or the previous window are forgotten on the way.
    async fn add_failure(&self, key: &str, window: i64) -> StoreResult<Failures>;
    /// Forgets the failures of `key`.
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;

    /// Creates an app with its initial config and release v1.
    async fn create_app(
        &self,
        app: App,
        config: Config,
        release: Release,
        events: Vec<String>,
    ) -> StoreResult<()>;
    /// Looks an app up by id.
    async fn app(&self, id: &str) -> StoreResult<App>;
    /// A number that changes whenever any app list may have changed, for backends that see
    /// every write (this process is the only writer, or other writers' notices arrive);
    /// `None` where the backend cannot tell now. Lets callers cache what they derive from
    /// app lists.
    fn app_lists_version(&self) -> Option<u64> {
        None
    }
    /// Apps in creation order.
    async fn list_apps(&self, scope: AppScope, page: PageSel) -> StoreResult<Page<App>>;
    /// Every app id, for reconciliation.
    async fn all_app_ids(&self) -> StoreResult<Vec<String>>;
    /// How many apps `owner` owns.
    async fn count_owned_apps(&self, owner: &str) -> StoreResult<u64>;
    /// Deletes an app and everything that hangs off it.
    async fn delete_app(&self, id: &str) -> StoreResult<()>;
    /// Makes `owner` the owner of the app (its configs and containers too, which always carry
    /// the app owner) and appends the event; returns the app. `NotFound` for an unknown user.
    async fn transfer_app(&self, id: &str, owner: &str, event: String) -> StoreResult<App>;

    /// Whether `username` holds a collaborator grant on `app`.
    async fn is_collaborator(&self, app: &str, username: &str) -> StoreResult<bool>;
    /// Grants `username` access to `app` (idempotent).
    async fn grant(&self, app: &str, username: &str, event: String) -> StoreResult<()>;
    /// Revokes a grant; `NotFound` when there was none.
    async fn revoke(&self, app: &str, username: &str, event: String) -> StoreResult<()>;
    /// Usernames holding a grant on `app`, in grant order.
    async fn collaborators(&self, app: &str) -> StoreResult<Vec<String>>;

    /// The release with the highest version.
    async fn latest_release(&self, app: &str) -> StoreResult<Release>;
    /// One release by version.
    async fn release(&self, app: &str, version: i64) -> StoreResult<Release>;
    /// Releases, newest first.
    async fn list_releases(&self, app: &str, page: PageSel) -> StoreResult<Page<Release>>;
    /// One config by uuid.
    async fn config(&self, uuid: Uuid) -> StoreResult<Config>;
    /// One build by uuid.
    async fn build(&self, app: &str, uuid: Uuid) -> StoreResult<Build>;
    /// Builds, newest first.
    async fn list_builds(&self, app: &str, page: PageSel) -> StoreResult<Page<Build>>;
    /// Inserts a release with its new config/build and container swap, atomically.
    /// `Conflict` when the version is already taken.
    async fn commit_release(&self, step: NewRelease) -> StoreResult<()>;
    /// Undoes `commit_release`: deletes the release, its new config/build and containers,
    /// and puts the retired containers back.
    async fn withdraw_release(&self, step: NewRelease) -> StoreResult<()>;

    /// Containers of an app, oldest first; `run` ones only when `proc_type` is `run`.
    async fn list_containers(
        &self,
        app: &str,
        proc_type: Option<&str>,
        page: PageSel,
    ) -> StoreResult<Page<Container>>;
    /// Every container of the app (including `run`), oldest first.
    async fn containers(&self, app: &str) -> StoreResult<Vec<Container>>;
    /// Containers of the whole platform: every long-running one, and the one-off runs still
    /// marked up that started after `runs_since`.
    async fn count_containers(&self, runs_since: OffsetDateTime) -> StoreResult<u64>;
    /// Applies a scale step atomically: new structure, containers added and removed.
    async fn commit_scale(
        &self,
        app: &str,
        structure: &Structure,
        add: &[Container],
        remove: &[Container],
        event: Option<String>,
    ) -> StoreResult<()>;
    /// Stores observed states of containers by uuid.
    async fn set_states(&self, states: &[(Uuid, ContainerState)]) -> StoreResult<()>;

    /// Adds a domain; `Conflict` when any app already has it.
    async fn add_domain(&self, domain: Domain, events: Vec<String>) -> StoreResult<()>;
    /// Domains of an app, in creation order.
    async fn list_domains(&self, app: &str, page: PageSel) -> StoreResult<Page<Domain>>;
    /// Removes a domain of the app; `NotFound` when it has no such domain.
    async fn remove_domain(&self, app: &str, domain: &str, events: Vec<String>) -> StoreResult<()>;

    /// Adds a key; `Conflict` naming the field (`id` or `public`) on a duplicate.
    async fn add_key(&self, key: Key) -> StoreResult<()>;
    /// The user's keys, in creation order.
    async fn list_keys(&self, owner: &str, page: PageSel) -> StoreResult<Page<Key>>;
    /// One key of the user.
    async fn key(&self, owner: &str, id: &str) -> StoreResult<Key>;
    /// Removes one key of the user.
    async fn remove_key(&self, owner: &str, id: &str) -> StoreResult<()>;
    /// The key whose line holds this base64 key data (its second field), of any user.
    async fn key_by_data(&self, data: &str) -> StoreResult<Key>;

    /// Stores a push record.
    async fn add_push(&self, push: Push) -> StoreResult<()>;

    /// Stores a certificate; `Conflict("common_name")` when one has that name already.
    async fn add_cert(&self, cert: NewCertificate) -> StoreResult<Certificate>;
    /// Certificates by creation, all of them or those of one owner.
    async fn list_certs(
        &self,
        owner: Option<&str>,
        page: PageSel,
    ) -> StoreResult<Page<Certificate>>;
    /// One certificate by common name.
    async fn cert(&self, common_name: &str) -> StoreResult<Certificate>;
    /// Removes one certificate by common name.
    async fn remove_cert(&self, common_name: &str) -> StoreResult<()>;
    /// Every certificate, for the router.
    async fn all_certs(&self) -> StoreResult<Vec<Certificate>>;

    /// Appends event lines to an app's log.
    async fn append_events(&self, app: &str, messages: Vec<String>) -> StoreResult<()>;
    /// The app's last `limit` events, oldest first.
    async fn events(&self, app: &str, limit: u64) -> StoreResult<Vec<Event>>;
    /// Every event this store commits from now on, of every app, as it is committed (pushed,
    /// never polled). Only this process's writes: replicas do not see each other's.
    fn event_feed(&self) -> EventFeed;
}

/// Events as they are committed (see [`Store::event_feed`]); dropping it unsubscribes.
pub type EventFeed = futures_util::stream::BoxStream<'static, Event>;
