//! Accounts: cancellation, administrators and SSH keys.

use super::*;

impl Platform {
    /// Deletes the user's account with everything they own, containers included.
    /// The last active administrator cannot leave: another one must be promoted first.
    pub async fn cancel_account(&self, user: &User) -> Result<(), Error> {
        let apps = self
            .store
            .delete_user(user.id)
            .await
            .map_err(|e| last_admin(e, "cancel their account"))?;
        for app in apps {
            self.remove_everything_of(&app, Vec::new()).await;
        }
        Ok(())
    }

    /// Active administrators (admins only).
    pub async fn list_admins(&self, user: &User, page: PageSel) -> Result<Page<User>, Error> {
        require_admin(user)?;
        Ok(self.store.list_admins(page).await?)
    }

    /// Grants or revokes administrator rights (admins only). The last active administrator
    /// keeps them: another one must be promoted first.
    pub async fn set_admin(&self, user: &User, username: &str, on: bool) -> Result<(), Error> {
        require_admin(user)?;
        self.store
            .set_superuser(username, on)
            .await
            .map_err(|e| last_admin(e, "lose administrator rights"))
    }

    /// Adds an SSH key to the user's account.
    pub async fn add_key(&self, user: &User, body: &JsonMap) -> Result<Key, Error> {
        let mut errors = Collector::default();
        let field = |name: &str| match body.get(name) {
            None | Some(Value::Null) => Err(REQUIRED.to_string()),
            Some(Value::String(s)) if s.trim().is_empty() => Err(REQUIRED.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err("Not a valid string.".to_string()),
        };
        let id = errors.check(
            "id",
            field("id").and_then(|id| validate::max_len(&id, 128).map(|()| id)),
        );
        let public = errors.check(
            "public",
            field("public").and_then(|p| validate::public_key(&p).map(|()| p.trim().to_owned())),
        );
        errors.finish()?;
        let (Some(id), Some(public)) = (id, public) else {
            return Err(Error::field("public", REQUIRED));
        };
        let now = timefmt::now();
        let key = Key {
            uuid: Uuid::new_v4(),
            id,
            owner: user.username.clone(),
            public,
            created: now,
            updated: now,
        };
        match self.store.add_key(key.clone()).await {
            Err(StoreError::Conflict(field)) if field == "public" => Err(Error::field(
                "public",
                "SSH Key with this Public already exists.",
            )),
            Err(StoreError::Conflict(_)) => Err(Error::field(
                "id",
                "SSH Key with this Owner and Id already exists.",
            )),
            other => other.map(|()| key).map_err(Error::from),
        }
    }
}

/// The store's refusal to leave the platform without an active administrator, as an answer.
fn last_admin(e: StoreError, what: &str) -> Error {
    match e {
        StoreError::Conflict(field) if field == "is_superuser" => Error::Rejected(format!(
            "The last active administrator cannot {what}; promote another user first."
        )),
        other => other.into(),
    }
}
