//! Rows as stored, and their conversions to and from the domain's entities.
//!
//! Instants are microseconds since the epoch, uuids are lowercase hyphenated text, maps are
//! JSON text. A row that does not convert back (bad uuid, bad JSON, unknown state) is a
//! deserialization error: the database was written by something else.

use deis_domain::timefmt::{from_micros, to_micros};
use deis_domain::{
    App, Build, Config, Container, ContainerState, Domain, Event, Key, Push, Release, User,
};
use diesel::prelude::*;
use diesel::result::{Error, QueryResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::schema::{
    apps, builds, configs, containers, domains, events, keys, pushes, releases, users,
};

fn to_json<T: Serialize>(value: &T) -> QueryResult<String> {
    serde_json::to_string(value).map_err(|e| Error::SerializationError(Box::new(e)))
}

fn from_json<T: DeserializeOwned>(text: &str) -> QueryResult<T> {
    serde_json::from_str(text).map_err(|e| Error::DeserializationError(Box::new(e)))
}

fn parse_uuid(text: &str) -> QueryResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::DeserializationError(Box::new(e)))
}

/// A stored account.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    email: String,
    first_name: String,
    last_name: String,
    is_superuser: bool,
    is_active: bool,
    last_login: Option<i64>,
    date_joined: i64,
    token_generation: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            username: r.username,
            password_hash: r.password_hash,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            is_superuser: r.is_superuser,
            is_active: r.is_active,
            last_login: r.last_login.map(from_micros),
            date_joined: from_micros(r.date_joined),
            token_generation: r.token_generation,
        }
    }
}

/// An account to insert; the id comes from the database.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow {
    pub(crate) username: String,
    pub(crate) password_hash: String,
    pub(crate) email: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) is_superuser: bool,
    pub(crate) is_active: bool,
    pub(crate) last_login: Option<i64>,
    pub(crate) date_joined: i64,
    pub(crate) token_generation: i64,
}

/// A stored app.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = apps)]
pub(crate) struct AppRow {
    id: String,
    uuid: String,
    owner: String,
    structure: String,
    created: i64,
    updated: i64,
}

impl TryFrom<&App> for AppRow {
    type Error = Error;
    fn try_from(a: &App) -> QueryResult<Self> {
        Ok(Self {
            id: a.id.clone(),
            uuid: a.uuid.to_string(),
            owner: a.owner.clone(),
            structure: to_json(&a.structure)?,
            created: to_micros(a.created),
            updated: to_micros(a.updated),
        })
    }
}

impl TryFrom<AppRow> for App {
    type Error = Error;
    fn try_from(r: AppRow) -> QueryResult<Self> {
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            id: r.id,
            owner: r.owner,
            structure: from_json(&r.structure)?,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A stored build.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = builds)]
pub(crate) struct BuildRow {
    uuid: String,
    app: String,
    owner: String,
    image: String,
    sha: String,
    procfile: String,
    dockerfile: String,
    created: i64,
    updated: i64,
}

impl TryFrom<&Build> for BuildRow {
    type Error = Error;
    fn try_from(b: &Build) -> QueryResult<Self> {
        Ok(Self {
            uuid: b.uuid.to_string(),
            app: b.app.clone(),
            owner: b.owner.clone(),
            image: b.image.clone(),
            sha: b.sha.clone(),
            procfile: to_json(&b.procfile)?,
            dockerfile: b.dockerfile.clone(),
            created: to_micros(b.created),
            updated: to_micros(b.updated),
        })
    }
}

impl TryFrom<BuildRow> for Build {
    type Error = Error;
    fn try_from(r: BuildRow) -> QueryResult<Self> {
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            app: r.app,
            owner: r.owner,
            image: r.image,
            sha: r.sha,
            procfile: from_json(&r.procfile)?,
            dockerfile: r.dockerfile,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A stored config.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = configs)]
pub(crate) struct ConfigRow {
    uuid: String,
    app: String,
    owner: String,
    env_values: String,
    memory: String,
    cpu: String,
    tags: String,
    created: i64,
    updated: i64,
}

impl TryFrom<&Config> for ConfigRow {
    type Error = Error;
    fn try_from(c: &Config) -> QueryResult<Self> {
        Ok(Self {
            uuid: c.uuid.to_string(),
            app: c.app.clone(),
            owner: c.owner.clone(),
            env_values: to_json(&c.values)?,
            memory: to_json(&c.memory)?,
            cpu: to_json(&c.cpu)?,
            tags: to_json(&c.tags)?,
            created: to_micros(c.created),
            updated: to_micros(c.updated),
        })
    }
}

impl TryFrom<ConfigRow> for Config {
    type Error = Error;
    fn try_from(r: ConfigRow) -> QueryResult<Self> {
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            app: r.app,
            owner: r.owner,
            values: from_json(&r.env_values)?,
            memory: from_json(&r.memory)?,
            cpu: from_json(&r.cpu)?,
            tags: from_json(&r.tags)?,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A stored release.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = releases)]
pub(crate) struct ReleaseRow {
    uuid: String,
    app: String,
    owner: String,
    version: i64,
    summary: String,
    config_uuid: String,
    build_uuid: Option<String>,
    created: i64,
    updated: i64,
}

impl From<&Release> for ReleaseRow {
    fn from(r: &Release) -> Self {
        Self {
            uuid: r.uuid.to_string(),
            app: r.app.clone(),
            owner: r.owner.clone(),
            version: r.version,
            summary: r.summary.clone(),
            config_uuid: r.config.to_string(),
            build_uuid: r.build.map(|b| b.to_string()),
            created: to_micros(r.created),
            updated: to_micros(r.updated),
        }
    }
}

impl TryFrom<ReleaseRow> for Release {
    type Error = Error;
    fn try_from(r: ReleaseRow) -> QueryResult<Self> {
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            app: r.app,
            owner: r.owner,
            version: r.version,
            summary: r.summary,
            config: parse_uuid(&r.config_uuid)?,
            build: r.build_uuid.as_deref().map(parse_uuid).transpose()?,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A stored container.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = containers)]
pub(crate) struct ContainerRow {
    uuid: String,
    app: String,
    owner: String,
    release_version: i64,
    proc_type: String,
    num: i64,
    state: String,
    created: i64,
    updated: i64,
}

impl From<&Container> for ContainerRow {
    fn from(c: &Container) -> Self {
        Self {
            uuid: c.uuid.to_string(),
            app: c.app.clone(),
            owner: c.owner.clone(),
            release_version: c.release,
            proc_type: c.proc_type.clone(),
            num: c.num,
            state: c.state.as_str().to_owned(),
            created: to_micros(c.created),
            updated: to_micros(c.updated),
        }
    }
}

impl TryFrom<ContainerRow> for Container {
    type Error = Error;
    fn try_from(r: ContainerRow) -> QueryResult<Self> {
        let state = ContainerState::parse(&r.state).ok_or_else(|| {
            Error::DeserializationError(format!("unknown container state {:?}", r.state).into())
        })?;
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            app: r.app,
            owner: r.owner,
            release: r.release_version,
            proc_type: r.proc_type,
            num: r.num,
            state,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A stored domain.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = domains)]
pub(crate) struct DomainRow {
    domain: String,
    owner: String,
    app: String,
    created: i64,
    updated: i64,
}

impl From<&Domain> for DomainRow {
    fn from(d: &Domain) -> Self {
        Self {
            domain: d.domain.clone(),
            owner: d.owner.clone(),
            app: d.app.clone(),
            created: to_micros(d.created),
            updated: to_micros(d.updated),
        }
    }
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Self {
            domain: r.domain,
            owner: r.owner,
            app: r.app,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        }
    }
}

/// A stored SSH key.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = keys)]
pub(crate) struct KeyRow {
    uuid: String,
    key_id: String,
    owner: String,
    public_key: String,
    created: i64,
    updated: i64,
}

impl From<&Key> for KeyRow {
    fn from(k: &Key) -> Self {
        Self {
            uuid: k.uuid.to_string(),
            key_id: k.id.clone(),
            owner: k.owner.clone(),
            public_key: k.public.clone(),
            created: to_micros(k.created),
            updated: to_micros(k.updated),
        }
    }
}

impl TryFrom<KeyRow> for Key {
    type Error = Error;
    fn try_from(r: KeyRow) -> QueryResult<Self> {
        Ok(Self {
            uuid: parse_uuid(&r.uuid)?,
            id: r.key_id,
            owner: r.owner,
            public: r.public_key,
            created: from_micros(r.created),
            updated: from_micros(r.updated),
        })
    }
}

/// A push to insert.
#[derive(Insertable)]
#[diesel(table_name = pushes)]
pub(crate) struct PushRow {
    uuid: String,
    app: String,
    owner: String,
    sha: String,
    fingerprint: String,
    receive_user: String,
    receive_repo: String,
    ssh_connection: String,
    ssh_original_command: String,
    created: i64,
    updated: i64,
}

impl From<&Push> for PushRow {
    fn from(p: &Push) -> Self {
        Self {
            uuid: p.uuid.to_string(),
            app: p.app.clone(),
            owner: p.owner.clone(),
            sha: p.sha.clone(),
            fingerprint: p.fingerprint.clone(),
            receive_user: p.receive_user.clone(),
            receive_repo: p.receive_repo.clone(),
            ssh_connection: p.ssh_connection.clone(),
            ssh_original_command: p.ssh_original_command.clone(),
            created: to_micros(p.created),
            updated: to_micros(p.updated),
        }
    }
}

/// A stored event line.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub(crate) struct EventRow {
    pub(crate) app: String,
    pub(crate) at: i64,
    pub(crate) message: String,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            app: r.app,
            at: from_micros(r.at),
            message: r.message,
        }
    }
}
