//! Custom domains of an app.

use super::*;

impl Platform {
    /// Adds a custom domain to the app.
    pub async fn add_domain(&self, user: &User, id: &str, body: &JsonMap) -> Result<Domain, Error> {
        let app = self.visible_app(user, id).await?;
        let name = match body.get("domain") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Error::field("domain", "Not a valid string.")),
        };
        validate::domain(&name).map_err(|m| Error::field("domain", m))?;
        let now = timefmt::now();
        let domain = Domain {
            domain: name.clone(),
            owner: user.username.clone(),
            app: app.id.clone(),
            created: now,
            updated: now,
        };
        let events = vec![
            format!("{}: domain {name} added", app.id),
            format!("domain {name} added"),
        ];
        match self.store.add_domain(domain.clone(), events).await {
            Err(StoreError::Conflict(_)) => Err(Error::field(
                "domain",
                format!("The domain {name} is already in use by another app"),
            )),
            Err(e) => Err(e.into()),
            Ok(()) => {
                self.sync_routes(&app.id).await;
                Ok(domain)
            }
        }
    }

    /// Domains of the app.
    pub async fn list_domains(
        &self,
        user: &User,
        id: &str,
        page: PageSel,
    ) -> Result<Page<Domain>, Error> {
        let app = self.visible_app(user, id).await?;
        Ok(self.store.list_domains(&app.id, page).await?)
    }

    /// Removes a custom domain from the app.
    pub async fn remove_domain(&self, user: &User, id: &str, domain: &str) -> Result<(), Error> {
        let app = self.visible_app(user, id).await?;
        let events = vec![
            format!("{}: domain {domain} removed", app.id),
            format!("domain {domain} removed"),
        ];
        self.store.remove_domain(&app.id, domain, events).await?;
        self.sync_routes(&app.id).await;
        Ok(())
    }
}
