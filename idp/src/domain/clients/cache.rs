//! Each instance's short memory of the clients it authenticated.
//!
//! A back-channel request (a token, a revocation, an introspection) names its client on
//! every call, and a machine client asking for `client_credentials` tokens does little
//! else: reading the client from the store each time was a fifth of the token endpoint's
//! work. Clients change only through the command line and the configuration (never on a
//! request), so each instance keeps the clients it read for `client_cache_seconds`
//! (default 1 s, 0: never). A client deleted or re-created with another secret is
//! therefore refused, or its new secret accepted, on every instance within that time;
//! the access tokens it was issued a moment before stay valid for their whole lifetime
//! anyway, so a second changes nothing of what a removed client can do. IdentityServer's
//! client store cache and Keycloak's client cache make the same trade, for far longer.
//!
//! The store stays the only shared state: nothing is written here that another instance
//! must see, and a secret that does not match what is remembered is read again from the
//! store before it is refused (`client_auth`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use parking_lot::RwLock;

use super::Client;

/// At most this many clients are remembered; a full memory drops what has expired, and
/// if nothing has, starts again (clients are few: an organising body registers tens).
const MOST_REMEMBERED: usize = 1024;

#[derive(Debug)]
pub struct ClientCache {
    keep_for: Duration,
    remembered: RwLock<HashMap<String, Remembered>>,
}

#[derive(Debug)]
struct Remembered {
    client: Arc<Client>,
    until: DateTime<Utc>,
}

impl ClientCache {
    /// Remembers each client for `seconds` after it is read from the store; 0: never.
    pub fn new(seconds: u64) -> Self {
        Self {
            keep_for: Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1_000)),
            remembered: RwLock::new(HashMap::new()),
        }
    }

    /// Client `id` as read from the store less than the time to keep it before `now`.
    pub fn fresh(&self, id: &str, now: DateTime<Utc>) -> Option<Arc<Client>> {
        let remembered = self.remembered.read();
        let entry = remembered.get(id)?;
        (now < entry.until).then(|| entry.client.clone())
    }

    /// Keeps `client`, just read from the store at `now`.
    pub fn remember(&self, client: Arc<Client>, now: DateTime<Utc>) {
        if self.keep_for <= Duration::zero() {
            return;
        }
        let mut remembered = self.remembered.write();
        if remembered.len() >= MOST_REMEMBERED {
            remembered.retain(|_, entry| now < entry.until);
            if remembered.len() >= MOST_REMEMBERED {
                remembered.clear();
            }
        }
        let until = now + self.keep_for;
        remembered.insert(client.id.to_string(), Remembered { client, until });
    }

    /// Drops what is remembered of client `id` (its secret did not match: the store may
    /// know a newer one; or it is gone from the store).
    pub fn forget(&self, id: &str) {
        self.remembered.write().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clients::{AuthMethod, GrantType};
    use crate::domain::types::{ClientId, SigningAlg};

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
            id: ClientId::parse(id).unwrap(),
            name: id.to_owned(),
            secret_hash: None,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Vec::new(),
            id_token_signed_response_alg: SigningAlg::RS256,
            jwks: None,
            from_config: false,
            created_at: Utc::now(),
        })
    }

    #[test]
    fn a_client_is_remembered_for_the_time_set_and_no_longer() {
        let cache = ClientCache::new(1);
        let now = Utc::now();
        assert!(
            cache.fresh("api", now).is_none(),
            "nothing before it is read"
        );
        cache.remember(client("api"), now);
        let kept = cache.fresh("api", now + Duration::milliseconds(999));
        assert_eq!(kept.map(|c| c.name.clone()).as_deref(), Some("api"));
        assert!(cache.fresh("api", now + Duration::seconds(1)).is_none());
        assert!(cache.fresh("other", now).is_none());
    }

    #[test]
    fn zero_seconds_remembers_nothing_and_a_forgotten_client_is_read_again() {
        let never = ClientCache::new(0);
        let now = Utc::now();
        never.remember(client("api"), now);
        assert!(never.fresh("api", now).is_none());

        let cache = ClientCache::new(60);
        cache.remember(client("api"), now);
        cache.forget("api");
        assert!(cache.fresh("api", now).is_none());
    }

    #[test]
    fn a_full_memory_keeps_the_newest_client() {
        let cache = ClientCache::new(60);
        let now = Utc::now();
        for n in 0..MOST_REMEMBERED {
            cache.remember(client(&format!("c{n}")), now);
        }
        cache.remember(client("late"), now);
        assert!(cache.fresh("late", now).is_some());
        assert!(cache.remembered.read().len() <= MOST_REMEMBERED);
    }
}
