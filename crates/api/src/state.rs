//! What every handler shares: the platform's use cases and the API's settings.

use std::time::Duration;

use deis_domain::Platform;
use jsonwebtoken::{DecodingKey, EncodingKey};

/// Who may register accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone.
    Enabled,
    /// Nobody (operators create users out of band).
    Disabled,
    /// Administrators only (and the very first user).
    AdminOnly,
}

impl Registration {
    /// Parses `enabled`, `disabled` or `admin_only`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            "admin_only" => Some(Self::AdminOnly),
            _ => None,
        }
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Signs and checks tokens (HS256).
    pub secret_key: String,
    /// How long a token is valid.
    pub token_lifetime: Duration,
    /// bcrypt cost of new password hashes.
    pub bcrypt_cost: u32,
    /// Who may register.
    pub registration: Registration,
    /// Value builder hooks must present in `X-Deis-Builder-Auth`; hooks are refused when unset.
    pub builder_key: Option<String>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Take the client's address for throttling from the last `X-Forwarded-For` entry (set by
    /// a proxy in front) instead of the connection's peer. Only safe when every request comes
    /// through that proxy.
    pub trust_forwarded_for: bool,
    /// Port of the builder's SSH listener, announced in `X-Deis-Builder-Port` on every answer
    /// so clients write git remotes that match; `None` when the builder is off.
    pub builder_port: Option<u16>,
}

/// Shared state of the HTTP server.
pub struct ApiState {
    /// The use cases.
    pub platform: Platform,
    /// Settings of the HTTP layer.
    pub settings: ApiSettings,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// A hash of the configured cost that no password matches, verified when a login names
    /// no user, so that timing does not tell which usernames exist.
    pub(crate) dummy_hash: String,
    /// Rendered app lists (see [`crate::listcache`]).
    pub(crate) list_cache: crate::listcache::ListCache,
    /// Tokens whose signature was already verified.
    pub(crate) verified: crate::listcache::VerifiedTokens,
    /// Request and deploy metrics, and the registry `/metrics` renders.
    pub metrics: crate::metrics::Metrics,
}

impl ApiState {
    /// Builds the state, deriving the token keys from the secret.
    pub fn new(platform: Platform, settings: ApiSettings) -> Self {
        let encoding = EncodingKey::from_secret(settings.secret_key.as_bytes());
        let decoding = DecodingKey::from_secret(settings.secret_key.as_bytes());
        let dummy_hash = bcrypt::hash(uuid::Uuid::new_v4().to_string(), settings.bcrypt_cost)
            .unwrap_or_default();
        Self {
            platform,
            settings,
            encoding,
            decoding,
            dummy_hash,
            list_cache: crate::listcache::ListCache::default(),
            verified: crate::listcache::VerifiedTokens::default(),
            metrics: crate::metrics::Metrics::standalone(),
        }
    }

    /// The same state with these metrics (the controller's registry and scrape token).
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}
