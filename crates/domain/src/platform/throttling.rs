//! Throttled guessing: failed logins per username and per client address, wrong builder keys
//! per client address. Counts live in the store, so replicas on one database share them.
//!
//! A login attempt is counted against its username before the password is checked and
//! forgotten when the password matches, so concurrent guesses cannot slip past the limit
//! together. An address is throttled when it failed against too many different usernames
//! (spraying): one user's typos never lock everybody out behind the same address.

use super::*;

/// Usernames longer than any real one are cut to this many characters in keys.
const KEY_NAME_CHARS: usize = 150;

fn user_key(username: &str) -> String {
    let name: String = username.chars().take(KEY_NAME_CHARS).collect();
    format!("login:user:{name}")
}

fn address_key(address: &str) -> String {
    format!("login:address:{address}")
}

fn pair_key(address: &str, username: &str) -> String {
    let name: String = username.chars().take(KEY_NAME_CHARS).collect();
    format!("login:pair:{address} {name}")
}

fn builder_key(address: &str) -> String {
    format!("builder:address:{address}")
}

fn throttled(what: &str, wait: Duration) -> Error {
    Error::TooMany {
        message: format!(
            "Too many failed {what}; try again in {} seconds.",
            wait.as_secs()
        ),
        retry_after: Some(wait),
    }
}

impl Platform {
    /// Before a password is checked: refuses at once while the username or the address is
    /// throttled (the right password too), then counts this attempt against the username.
    pub async fn begin_login(&self, username: &str, address: &str) -> Result<(), Error> {
        let throttle = self.settings.throttle;
        let now = timefmt::now();
        let window = throttle.window_of(now);
        let user = user_key(username);
        for key in [&user, &address_key(address)] {
            let counts = self.store.failures(key, window).await?;
            if let Some(wait) = throttle.wait(counts, now) {
                return Err(throttled("logins", wait));
            }
        }
        let counts = self.store.add_failure(&user, window).await?;
        match throttle.over(counts, now) {
            Some(wait) => Err(throttled("logins", wait)),
            None => Ok(()),
        }
    }

    /// After the password matched: forgets the username's failures.
    pub async fn login_succeeded(&self, username: &str) -> Result<(), Error> {
        Ok(self.store.clear_failures(&user_key(username)).await?)
    }

    /// After the password did not match: counts the failure against the address, once per
    /// username and window (the username's count was taken in [`Platform::begin_login`]).
    pub async fn login_failed(&self, username: &str, address: &str) -> Result<(), Error> {
        let window = self.settings.throttle.window_of(timefmt::now());
        let pair = self
            .store
            .add_failure(&pair_key(address, username), window)
            .await?;
        if pair.total() == 1 {
            self.store
                .add_failure(&address_key(address), window)
                .await?;
        }
        Ok(())
    }

    /// Before a builder key is compared: refuses at once while the address is throttled.
    pub async fn check_builder_address(&self, address: &str) -> Result<(), Error> {
        let throttle = self.settings.throttle;
        let now = timefmt::now();
        let counts = self
            .store
            .failures(&builder_key(address), throttle.window_of(now))
            .await?;
        match throttle.wait(counts, now) {
            Some(wait) => Err(throttled("builder keys", wait)),
            None => Ok(()),
        }
    }

    /// Counts a wrong builder key; refuses when it is one too many.
    pub async fn builder_key_failed(&self, address: &str) -> Result<(), Error> {
        let throttle = self.settings.throttle;
        let now = timefmt::now();
        let counts = self
            .store
            .add_failure(&builder_key(address), throttle.window_of(now))
            .await?;
        match throttle.over(counts, now) {
            Some(wait) => Err(throttled("builder keys", wait)),
            None => Ok(()),
        }
    }
}
