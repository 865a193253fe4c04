//! Accounts: cancellation, administrators, token renewal and SSH keys.

use super::*;

/// Whose tokens a regeneration renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regenerate {
    /// The caller's.
    Caller,
    /// The named user's (administrators, or the caller naming themselves).
    User(String),
    /// Every user's (administrators).
    All,
}

impl Platform {
    /// The account a request that may name a user is about: the caller when it names nobody
    /// or the caller; another user only for administrators (403 otherwise, 404 for a name
    /// nobody has).
    pub async fn account_to_change(
        &self,
        caller: &User,
        named: Option<&str>,
    ) -> Result<User, Error> {
        match named {
            Some(name) if !name.is_empty() && name != caller.username => {
                require_admin(caller)?;
                Ok(self.store.user_by_name(name).await?)
            }
            _ => Ok(caller.clone()),
        }
    }

    /// Cancels an account: the caller's own, with everything they own (containers included),
    /// or, for administrators naming another user, that user's, refused with 409 while they
    /// still own apps. Nobody is ever deleted in place of the named user. The last active
    /// administrator cannot leave: another one must be promoted first.
    pub async fn cancel_account(&self, caller: &User, named: Option<&str>) -> Result<(), Error> {
        let target = self.account_to_change(caller, named).await?;
        if target.id != caller.id {
            return match self.store.delete_user_without_apps(target.id).await {
                Err(StoreError::Conflict(field)) if field == "apps" => {
                    Err(Error::Conflict(format!(
                        "{} still has applications assigned. Delete or transfer ownership",
                        target.username
                    )))
                }
                other => other.map_err(|e| last_admin(e, "cancel their account")),
            };
        }
        let apps = self
            .store
            .delete_user(caller.id)
            .await
            .map_err(|e| last_admin(e, "cancel their account"))?;
        for app in apps {
            self.remove_everything_of(&app, Vec::new()).await;
        }
        Ok(())
    }

    /// Every user, by registration (administrators only).
    pub async fn list_users(&self, caller: &User, page: PageSel) -> Result<Page<User>, Error> {
        require_admin(caller)?;
        Ok(self.store.list_users(page).await?)
    }

    /// Renews tokens: earlier tokens of the users concerned stop working. Returns the user a
    /// fresh token is for: the named user, else the caller.
    pub async fn regenerate_tokens(&self, caller: &User, which: Regenerate) -> Result<User, Error> {
        match which {
            Regenerate::Caller => Ok(self.store.bump_token_generation(caller.id).await?),
            Regenerate::User(name) => {
                let target = self.account_to_change(caller, Some(&name)).await?;
                Ok(self.store.bump_token_generation(target.id).await?)
            }
            Regenerate::All => {
                require_admin(caller)?;
                self.store.bump_all_token_generations().await?;
                Ok(self.store.user_by_id(caller.id).await?)
            }
        }
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
