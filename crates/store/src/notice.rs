//! What a committed write changed, as the replicas sharing a PostgreSQL database tell each
//! other: every write that changes something a replica caches or routes sends one
//! `pg_notify` on [`CHANNEL`] inside its transaction (so it is delivered only if the write
//! commits), naming the replica it came from and what changed.
//!
//! Payload: `<origin> <change> <change> ...`, changes as `u:<id>` (one user), `U` (any user),
//! `a:<app>`, `L` (app lists), `r:<app>` (an app's routes), `c` (certificates) and `*`
//! (everything). App ids are `[a-z0-9-]+`, so spaces separate safely. A payload that would
//! not fit PostgreSQL's limit says `*`.

/// The channel every replica listens on.
pub(crate) const CHANNEL: &str = "deis_changes";

/// PostgreSQL refuses payloads of 8000 bytes and more.
const MAX_PAYLOAD: usize = 7900;

/// Something a write changed that other replicas may hold a copy of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// One user's record (password, token generation, flags, deletion).
    User(i64),
    /// Any user's record (a change by name, or of every user).
    Users,
    /// One app's record or what hangs off it (releases, config, containers, owner).
    App(String),
    /// What app lists show (apps created, deleted, changed, shared or transferred).
    AppLists,
    /// What the router needs for one app (containers, config, domains, existence).
    Routes(String),
    /// The stored certificates.
    Certs,
    /// Anything: a replica lost track (its listening connection dropped, or a notice was
    /// missed) and must treat every copy as stale.
    Everything,
}

impl Change {
    fn encode(&self, out: &mut String) {
        match self {
            Self::User(id) => {
                out.push_str("u:");
                out.push_str(&id.to_string());
            }
            Self::Users => out.push('U'),
            Self::App(app) => {
                out.push_str("a:");
                out.push_str(app);
            }
            Self::AppLists => out.push('L'),
            Self::Routes(app) => {
                out.push_str("r:");
                out.push_str(app);
            }
            Self::Certs => out.push('c'),
            Self::Everything => out.push('*'),
        }
    }

    fn decode(token: &str) -> Option<Self> {
        let word = |w: &str| {
            (!w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                .then(|| w.to_owned())
        };
        match token.split_once(':') {
            Some(("u", id)) => id.parse().ok().map(Self::User),
            Some(("a", app)) => word(app).map(Self::App),
            Some(("r", app)) => word(app).map(Self::Routes),
            Some(_) => None,
            None => match token {
                "U" => Some(Self::Users),
                "L" => Some(Self::AppLists),
                "c" => Some(Self::Certs),
                "*" => Some(Self::Everything),
                _ => None,
            },
        }
    }
}

/// The payload announcing `changes` from replica `origin`.
pub(crate) fn encode(origin: &str, changes: &[Change]) -> String {
    let mut out = origin.to_owned();
    for change in changes {
        out.push(' ');
        change.encode(&mut out);
    }
    if out.len() > MAX_PAYLOAD {
        out = format!("{origin} *");
    }
    out
}

/// The origin and changes of a payload. A token this version does not know makes the notice
/// mean [`Change::Everything`]: a newer replica's notice is never ignored.
pub(crate) fn decode(payload: &str) -> (&str, Vec<Change>) {
    let mut tokens = payload.split(' ');
    let origin = tokens.next().unwrap_or_default();
    let mut changes = Vec::new();
    for token in tokens {
        match Change::decode(token) {
            Some(change) => changes.push(change),
            None => return (origin, vec![Change::Everything]),
        }
    }
    (origin, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let changes = vec![
            Change::User(42),
            Change::Users,
            Change::App("my-app-1".into()),
            Change::AppLists,
            Change::Routes("web".into()),
            Change::Certs,
            Change::Everything,
        ];
        let payload = encode("r1", &changes);
        assert_eq!(payload, "r1 u:42 U a:my-app-1 L r:web c *");
        assert_eq!(decode(&payload), ("r1", changes));
        assert_eq!(decode("r2"), ("r2", vec![]));
    }

    #[test]
    fn unknown_or_oversized_notices_mean_everything() {
        assert_eq!(decode("r1 L x:1"), ("r1", vec![Change::Everything]));
        assert_eq!(decode("r1 a:Bad/App"), ("r1", vec![Change::Everything]));
        let many: Vec<Change> = (0..2000)
            .map(|i| Change::Routes(format!("app-{i}")))
            .collect();
        assert_eq!(encode("r1", &many), "r1 *");
    }
}
