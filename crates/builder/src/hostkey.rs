//! The host key: an ed25519 key made on first start and kept in the database, so clients see
//! the same host key after restarts and on every replica.

use deis_domain::Store;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, ssh_key};

/// Name of the database setting holding the key (OpenSSH private key format).
const SETTING: &str = "builder_host_key";

/// The kept host key, made and stored first when there is none (the first replica to store
/// one wins; the others read it back).
pub(crate) async fn load_or_create(store: &dyn Store) -> anyhow::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| anyhow::anyhow!("the system has no randomness for a host key"))?;
    let fresh = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let text = fresh.to_openssh(LineEnding::LF)?;
    let kept = store.setting_or_insert(SETTING, &text).await?;
    let key = PrivateKey::from_openssh(kept.as_bytes())
        .map_err(|e: ssh_key::Error| anyhow::anyhow!("the stored host key is unreadable: {e}"))?;
    tracing::info!(
        fingerprint = %key.public_key().fingerprint(Default::default()),
        "builder host key"
    );
    Ok(key)
}
