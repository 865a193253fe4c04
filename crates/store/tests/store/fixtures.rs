//! Domain values to store, and assertions on store errors.

use deis_domain::store::StoreResult;
use deis_domain::timefmt::now;
use deis_domain::{
    App, Build, Config, Container, ContainerState, Domain, JsonMap, Key, NewRelease, NewUser, Push,
    Release, Store, StoreError, Structure, User,
};
use uuid::Uuid;

/// Registers `username`.
pub async fn user(store: &dyn Store, username: &str) -> User {
    store
        .create_user(new_user(username))
        .await
        .expect("user registers")
}

/// The fields of a user to register.
pub fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password_hash: format!("hash-of-{username}"),
        email: format!("{username}@example.com"),
        first_name: "First".to_owned(),
        last_name: "Last".to_owned(),
    }
}

/// An app as the use case would build it, with its config and release v1.
pub fn new_app(id: &str, owner: &str) -> (App, Config, Release) {
    let t = now();
    let app = App {
        uuid: Uuid::new_v4(),
        id: id.to_owned(),
        owner: owner.to_owned(),
        structure: Structure::new(),
        created: t,
        updated: t,
    };
    let config = config(id, owner, &[]);
    let release = Release {
        uuid: Uuid::new_v4(),
        app: id.to_owned(),
        owner: owner.to_owned(),
        version: 1,
        summary: format!("{owner} created initial release"),
        config: config.uuid,
        build: None,
        created: t,
        updated: t,
    };
    (app, config, release)
}

/// Creates app `id` owned by `owner`; returns what was stored.
pub async fn app(store: &dyn Store, id: &str, owner: &str) -> (App, Config, Release) {
    let (app, config, release) = new_app(id, owner);
    let events = vec![format!("{owner} created {id}")];
    store
        .create_app(app.clone(), config.clone(), release.clone(), events)
        .await
        .expect("app is created");
    (app, config, release)
}

/// A config with these values.
pub fn config(app: &str, owner: &str, values: &[(&str, &str)]) -> Config {
    let t = now();
    let mut map = JsonMap::new();
    for (k, v) in values {
        map.insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
    }
    let mut memory = JsonMap::new();
    memory.insert("web".to_owned(), serde_json::json!("512M"));
    Config {
        uuid: Uuid::new_v4(),
        app: app.to_owned(),
        owner: owner.to_owned(),
        values: map,
        memory,
        cpu: JsonMap::new(),
        tags: JsonMap::new(),
        created: t,
        updated: t,
    }
}

/// A build of `image`.
pub fn build(app: &str, owner: &str, image: &str) -> Build {
    let t = now();
    let mut procfile = JsonMap::new();
    procfile.insert("web".to_owned(), serde_json::json!("httpd -f"));
    Build {
        uuid: Uuid::new_v4(),
        app: app.to_owned(),
        owner: owner.to_owned(),
        image: image.to_owned(),
        sha: "abc123".to_owned(),
        procfile,
        dockerfile: String::new(),
        created: t,
        updated: t,
    }
}

/// A container of `app` at `version`.
pub fn container(app: &str, version: i64, proc_type: &str, num: i64) -> Container {
    let t = now();
    Container {
        uuid: Uuid::new_v4(),
        app: app.to_owned(),
        owner: "owner".to_owned(),
        release: version,
        proc_type: proc_type.to_owned(),
        num,
        state: ContainerState::Initialized,
        created: t,
        updated: t,
    }
}

/// Release `version` following `previous`, with a new build and config, replacing `retire`
/// by one web container.
pub fn next_release(previous: &Release, retire: Vec<Container>) -> NewRelease {
    let app = previous.app.clone();
    let version = previous.version + 1;
    let build = build(&app, "deployer", &format!("img:{version}"));
    let config = config(&app, &previous.owner, &[("V", &version.to_string())]);
    let t = now();
    NewRelease {
        release: Release {
            uuid: Uuid::new_v4(),
            app: app.clone(),
            owner: "deployer".to_owned(),
            version,
            summary: format!("deployer deployed img:{version}"),
            config: config.uuid,
            build: Some(build.uuid),
            created: t,
            updated: t,
        },
        config: Some(config),
        build: Some(build),
        retire,
        containers: vec![container(&app, version, "web", 1)],
        events: vec![format!("deployer deployed img:{version}")],
    }
}

/// A domain of `app`.
pub fn domain(app: &str, name: &str) -> Domain {
    let t = now();
    Domain {
        domain: name.to_owned(),
        owner: "owner".to_owned(),
        app: app.to_owned(),
        created: t,
        updated: t,
    }
}

/// A key of `owner`.
pub fn key(owner: &str, id: &str, public: &str) -> Key {
    let t = now();
    Key {
        uuid: Uuid::new_v4(),
        id: id.to_owned(),
        owner: owner.to_owned(),
        public: public.to_owned(),
        created: t,
        updated: t,
    }
}

/// A push to `app`.
pub fn push(app: &str, owner: &str) -> Push {
    let t = now();
    Push {
        uuid: Uuid::new_v4(),
        app: app.to_owned(),
        owner: owner.to_owned(),
        sha: "abc123".to_owned(),
        fingerprint: "aa:bb".to_owned(),
        receive_user: owner.to_owned(),
        receive_repo: app.to_owned(),
        ssh_connection: "127.0.0.1 1 127.0.0.1 22".to_owned(),
        ssh_original_command: format!("git-receive-pack '{app}.git'"),
        created: t,
        updated: t,
    }
}

/// Asserts `NotFound(what)`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(w)) => assert_eq!(w, what, "NotFound names the record"),
        other => panic!("expected NotFound({what}), got {other:?}"),
    }
}

/// Asserts `Conflict(field)`.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: StoreResult<T>, field: &str) {
    match result {
        Err(StoreError::Conflict(f)) => assert_eq!(f, field, "Conflict names the field"),
        other => panic!("expected Conflict({field}), got {other:?}"),
    }
}
