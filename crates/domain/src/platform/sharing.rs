//! Sharing an app with other users.

use super::*;

impl Platform {
    /// Users the app is shared with.
    pub async fn collaborators(&self, user: &User, id: &str) -> Result<Vec<String>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.collaborators(&app.id).await?)
    }

    /// Shares the app with a user (owner or admin only).
    pub async fn grant(&self, user: &User, id: &str, username: &str) -> Result<(), Error> {
        let app = self.manageable_app(user, id).await?;
        let target = self.store.user_by_name(username).await?;
        let event = format!(
            "{}: User {} was granted access to {}",
            app.id, target.username, app.id
        );
        match self.store.grant(&app.id, &target.username, event).await {
            // A concurrent grant of the same user won the race: granting is idempotent.
            Err(StoreError::Conflict(_)) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Stops sharing the app with a user (owner or admin only).
    pub async fn revoke(&self, user: &User, id: &str, username: &str) -> Result<(), Error> {
        let app = self.manageable_app(user, id).await?;
        let target = self.store.user_by_name(username).await?;
        let event = format!(
            "{}: User {} was revoked access to {}",
            app.id, target.username, app.id
        );
        match self.store.revoke(&app.id, &target.username, event).await {
            Err(StoreError::NotFound(_)) => Err(Error::NotFoundEmpty),
            other => Ok(other?),
        }
    }
}
