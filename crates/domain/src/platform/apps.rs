//! Creating, listing and destroying apps.

use super::*;

impl Platform {
    /// Creates an app with its initial config and release v1.
    pub async fn create_app(&self, user: &User, body: &JsonMap) -> Result<App, Error> {
        let structure = match body.get("structure") {
            None | Some(Value::Null) => Structure::new(),
            Some(v) => validate::structure(v)?,
        };
        self.check_new_app(user, &structure).await?;
        match body.get("id") {
            Some(Value::Null) => Err(Error::field("id", REQUIRED)),
            None => {
                for _ in 0..8 {
                    match self
                        .insert_app(user, random_app_id(), structure.clone())
                        .await
                    {
                        Err(Error::Fields(f)) if f.contains_key("id") => continue,
                        other => return other,
                    }
                }
                Err(Error::Unavailable(
                    "could not find a free app name; name the app".into(),
                ))
            }
            Some(Value::String(id)) => {
                validate::app_id(id).map_err(|m| Error::field("id", m))?;
                self.insert_app(user, id.clone(), structure).await
            }
            Some(_) => Err(Error::field("id", "Not a valid string.")),
        }
    }

    async fn insert_app(
        &self,
        user: &User,
        id: String,
        structure: Structure,
    ) -> Result<App, Error> {
        let now = timefmt::now();
        let app = App {
            uuid: Uuid::new_v4(),
            id: id.clone(),
            owner: user.username.clone(),
            structure,
            created: now,
            updated: now,
        };
        let config = Config {
            uuid: Uuid::new_v4(),
            app: id.clone(),
            owner: user.username.clone(),
            values: JsonMap::new(),
            memory: JsonMap::new(),
            cpu: JsonMap::new(),
            tags: JsonMap::new(),
            created: now,
            updated: now,
        };
        let summary = format!("{} created initial release", user.username);
        let release = Release {
            uuid: Uuid::new_v4(),
            app: id.clone(),
            owner: user.username.clone(),
            version: 1,
            summary: summary.clone(),
            config: config.uuid,
            build: None,
            created: now,
            updated: now,
        };
        let events = vec![
            format!("{id}: config {id}-{} updated", short(config.uuid)),
            format!("{id}: release {id}-v1 created"),
            summary,
        ];
        match self
            .store
            .create_app(app.clone(), config, release, events)
            .await
        {
            Err(StoreError::Conflict(_)) => {
                Err(Error::field("id", "App with this Id already exists."))
            }
            other => other.map(|()| app).map_err(Error::from),
        }
    }

    /// Apps the user may see.
    pub async fn list_apps(&self, user: &User, page: PageSel) -> Result<Page<App>, Error> {
        let scope = if user.is_superuser {
            AppScope::All
        } else {
            AppScope::VisibleTo(user.username.clone())
        };
        Ok(self.store.list_apps(scope, page).await?)
    }

    /// Destroys an app, its records and its containers (owner or admin only).
    pub async fn destroy_app(&self, user: &User, id: &str) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        if !(user.is_superuser || app.owner == user.username) {
            return Err(Error::Forbidden);
        }
        let _lock = self.store.lock_app(id).await?;
        let names: Vec<String> = self
            .store
            .containers(id)
            .await?
            .iter()
            .map(Container::name)
            .collect();
        self.store.delete_app(id).await?;
        self.remove_everything_of(id, names).await;
        Ok(())
    }

    /// Gives the app to another user (owner or admin only; 404 for a name nobody has). Configs
    /// and containers follow, since they always carry the app owner.
    pub async fn transfer_app(&self, user: &User, id: &str, new_owner: &str) -> Result<App, Error> {
        let app = self.visible_app(user, id).await?;
        if !(user.is_superuser || app.owner == user.username) {
            return Err(Error::Forbidden);
        }
        let owner = self.store.user_by_name(new_owner).await?;
        let _lock = self.store.lock_app(&app.id).await?;
        let event = format!(
            "{}: {} transferred the app to {}",
            app.id, user.username, owner.username
        );
        Ok(self
            .store
            .transfer_app(&app.id, &owner.username, event)
            .await?)
    }

    /// Best effort: removes the named containers and whatever else the engine holds for the app
    /// (other containers of it, its release images).
    /// What fails here is an orphan that reconciliation removes later.
    pub(super) async fn remove_everything_of(&self, app: &str, mut names: Vec<String>) {
        self.routing.remove_app(app).await;
        match self.scheduler.list(Some(app)).await {
            Ok(observed) => names.extend(observed.into_iter().map(|o| o.name)),
            Err(e) => tracing::warn!(app, error = %e, "could not list containers of a deleted app"),
        }
        names.sort();
        names.dedup();
        if !names.is_empty()
            && let Err(e) = self.scheduler.remove(&names).await
        {
            tracing::warn!(app, error = %e, "containers of a deleted app left for reconciliation");
        }
        if let Err(e) = self.scheduler.forget(app).await {
            tracing::warn!(app, error = %e, "release images of a deleted app left for reconciliation");
        }
    }
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fancy",
    "gentle", "golden", "happy", "hidden", "jolly", "keen", "lively", "lucky", "mellow", "nimble",
    "peachy", "proud", "quiet", "rapid", "rustic", "shiny", "silent", "sunny", "swift", "tidy",
    "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "anchor", "badger", "beacon", "bramble", "canyon", "cedar", "comet", "dingo", "ember",
    "falcon", "fjord", "gazelle", "harbor", "island", "jigsaw", "lantern", "meadow", "nebula",
    "otter", "pebble", "quartz", "raven", "saddle", "summit", "thicket", "tundra", "valley",
    "walrus", "waxworks", "willow", "yonder", "zephyr",
];

/// A fresh `<adjective>-<noun>` app id.
fn random_app_id() -> String {
    use rand::seq::IndexedRandom;
    let mut rng = rand::rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("brave");
    let noun = NOUNS.choose(&mut rng).copied().unwrap_or("otter");
    format!("{adjective}-{noun}")
}
