//! Entities of the platform, as the use cases see them.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

/// A JSON object, the shape of config maps and procfiles.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A registered account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Integer primary key; never reused.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// bcrypt hash of the password.
    pub password_hash: String,
    /// Contact address, may be empty.
    pub email: String,
    /// Given name, may be empty.
    pub first_name: String,
    /// Family name, may be empty.
    pub last_name: String,
    /// Administrator (superuser and staff together).
    pub is_superuser: bool,
    /// Whether the account may log in.
    pub is_active: bool,
    /// Last successful login.
    pub last_login: Option<OffsetDateTime>,
    /// When the account was registered.
    pub date_joined: OffsetDateTime,
    /// Bumped on password change: tokens carrying an older generation are refused.
    pub token_generation: i64,
}

/// The fields of an account to register.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique login name.
    pub username: String,
    /// bcrypt hash of the password.
    pub password_hash: String,
    /// Contact address, may be empty.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// Process type -> number of containers.
pub type Structure = BTreeMap<String, i64>;

/// An application.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// Random identity.
    pub uuid: Uuid,
    /// The app's name, `[a-z0-9-]+`.
    pub id: String,
    /// Username of the owner.
    pub owner: String,
    /// Last requested scale.
    pub structure: Structure,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// An image handed to the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    /// Random identity.
    pub uuid: Uuid,
    /// App id.
    pub app: String,
    /// Username of the user who created the build.
    pub owner: String,
    /// Image reference.
    pub image: String,
    /// Git sha, may be empty.
    pub sha: String,
    /// Process type -> command.
    pub procfile: JsonMap,
    /// Dockerfile marker, may be empty.
    pub dockerfile: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// An app's environment and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Random identity.
    pub uuid: Uuid,
    /// App id.
    pub app: String,
    /// Always the app owner.
    pub owner: String,
    /// Environment variables, values keep their JSON type.
    pub values: JsonMap,
    /// Process type -> memory limit (`512M`).
    pub memory: JsonMap,
    /// Process type -> cpu shares.
    pub cpu: JsonMap,
    /// Tag -> value (placement constraints).
    pub tags: JsonMap,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// A numbered pairing of a build and a config.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// Random identity.
    pub uuid: Uuid,
    /// App id.
    pub app: String,
    /// Username of the user who made the release.
    pub owner: String,
    /// 1, 2, 3, ... contiguous per app.
    pub version: i64,
    /// Human summary of what changed.
    pub summary: String,
    /// The config's uuid.
    pub config: Uuid,
    /// The build's uuid, none for v1.
    pub build: Option<Uuid>,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// The lifecycle states of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// Recorded, not yet created on the engine.
    Initialized,
    /// Created on the engine, not running.
    Created,
    /// Running.
    Up,
    /// Stopped.
    Down,
    /// Removed.
    Destroyed,
    /// Exited or restarting after a failure.
    Crashed,
    /// The engine refused an operation on it.
    Error,
}

impl ContainerState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::Created => "created",
            Self::Up => "up",
            Self::Down => "down",
            Self::Destroyed => "destroyed",
            Self::Crashed => "crashed",
            Self::Error => "error",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "initialized" => Self::Initialized,
            "created" => Self::Created,
            "up" => Self::Up,
            "down" => Self::Down,
            "destroyed" => Self::Destroyed,
            "crashed" => Self::Crashed,
            "error" => Self::Error,
            _ => return None,
        })
    }
}

/// A process of an app at a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    /// Random identity.
    pub uuid: Uuid,
    /// App id.
    pub app: String,
    /// The app owner.
    pub owner: String,
    /// Version of the release it runs.
    pub release: i64,
    /// Process type (`web`, `worker`, `cmd`, `run`).
    pub proc_type: String,
    /// Number within its type, from 1.
    pub num: i64,
    /// Last known state.
    pub state: ContainerState,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

impl Container {
    /// The engine name, `{app}_v{N}.{type}.{num}`.
    pub fn name(&self) -> String {
        container_name(&self.app, self.release, &self.proc_type, self.num)
    }
}

/// The engine name of a container, `{app}_v{N}.{type}.{num}`.
pub fn container_name(app: &str, version: i64, proc_type: &str, num: i64) -> String {
    format!("{app}_v{version}.{proc_type}.{num}")
}

/// A custom hostname routed to an app.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// The hostname.
    pub domain: String,
    /// Username of the user who added it.
    pub owner: String,
    /// App id.
    pub app: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// An SSH public key of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Random identity.
    pub uuid: Uuid,
    /// Name of the key, unique per owner.
    pub id: String,
    /// Username of the owner.
    pub owner: String,
    /// The public key line.
    pub public: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// A `git push` the builder received.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// Random identity.
    pub uuid: Uuid,
    /// App id.
    pub app: String,
    /// Username of the pusher.
    pub owner: String,
    /// Commit sha.
    pub sha: String,
    /// Fingerprint of the key used.
    pub fingerprint: String,
    /// User as the builder saw it.
    pub receive_user: String,
    /// Repository as the builder saw it.
    pub receive_repo: String,
    /// `SSH_CONNECTION` of the push.
    pub ssh_connection: String,
    /// `SSH_ORIGINAL_COMMAND` of the push.
    pub ssh_original_command: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last change.
    pub updated: OffsetDateTime,
}

/// A platform event line in an app's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// App id.
    pub app: String,
    /// When it happened.
    pub at: OffsetDateTime,
    /// The message, without timestamp or source.
    pub message: String,
}

/// Everything a new release brings, inserted in one transaction by the store.
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// The release row (its version is the latest + 1, checked by a unique constraint).
    pub release: Release,
    /// A config created with this release, if any.
    pub config: Option<Config>,
    /// A build created with this release, if any.
    pub build: Option<Build>,
    /// Container rows this release retires (deleted in the same transaction).
    pub retire: Vec<Container>,
    /// Container rows this release brings (inserted in the same transaction).
    pub containers: Vec<Container>,
    /// Event lines to append.
    pub events: Vec<String>,
}
