//! The builder hooks: who pushes to which app, and the push records.

use super::*;

impl Platform {
    /// Resolves the acting user and app of a builder hook; the user must be able to use the app.
    pub async fn hook_actor(&self, body: &JsonMap) -> Result<(User, App), Error> {
        let mut errors = Collector::default();
        let field = |name: &str| match body.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(REQUIRED.to_string()),
        };
        let user = errors.check("receive_user", field("receive_user"));
        let repo = errors.check("receive_repo", field("receive_repo"));
        errors.finish()?;
        let (Some(user), Some(repo)) = (user, repo) else {
            return Err(Error::field("receive_user", REQUIRED));
        };
        let user = self.store.user_by_name(&user).await?;
        if !validate::is_app_id(&repo) {
            return Err(Error::NotFound);
        }
        let app = self.store.app(&repo).await?;
        if self.can_see(&user, &app).await? {
            Ok((user, app))
        } else {
            Err(Error::Forbidden)
        }
    }

    /// Records a push the builder received.
    pub async fn record_push(&self, body: &JsonMap) -> Result<Push, Error> {
        let (user, app) = self.hook_actor(body).await?;
        let mut errors = Collector::default();
        let mut field = |name: &str, max: usize| {
            let value = match body.get(name) {
                Some(Value::String(s)) if !s.is_empty() => {
                    validate::max_len(s, max).map(|()| s.clone())
                }
                _ => Err(REQUIRED.to_string()),
            };
            errors.check(name, value).unwrap_or_default()
        };
        let sha = field("sha", 40);
        let fingerprint = field("fingerprint", 255);
        let ssh_connection = field("ssh_connection", 255);
        let ssh_original_command = field("ssh_original_command", 255);
        errors.finish()?;
        let now = timefmt::now();
        let push = Push {
            uuid: Uuid::new_v4(),
            app: app.id.clone(),
            owner: user.username.clone(),
            sha,
            fingerprint,
            receive_user: user.username.clone(),
            receive_repo: app.id.clone(),
            ssh_connection,
            ssh_original_command,
            created: now,
            updated: now,
        };
        self.store.add_push(push.clone()).await?;
        Ok(push)
    }
}
