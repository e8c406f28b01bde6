//! Opaque access tokens checked by RFC 7662 token introspection, with a bounded cache of the answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock (the std one unless a test pauses it), so tests step over cache TTLs instead of sleeping.
use tokio::time::Instant;

use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{canonical_resource, fetch, TokenError, TokenVerifier, VerifiedToken};

/// Default cap on an introspection response: they are a few hundred bytes.
const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Asks the authorization server's introspection endpoint about each token (authenticating with client
/// credentials), and checks that it is active, unexpired and meant for this server.
///
/// Calls have connect and total timeouts (defaults 5 s and 10 s) and a response size cap (64 KiB); a call that
/// fails them makes verification [`Unavailable`](TokenError::Unavailable) (503), never a hang.
///
/// Answers are cached, keyed by the SHA-256 of the token (the token itself is never kept):
/// - an active token until the earliest of its `exp` and [`cache_ttl`](Self::cache_ttl) (default 60 s), which
///   is also the longest a revocation can go unnoticed;
/// - a refused one (inactive, expired, for another audience) for [`negative_cache_ttl`](Self::negative_cache_ttl)
///   (default 10 s), so one bad token repeated does not reach the endpoint each time, while a token that was
///   not yet known to the authorization server is not refused for long;
/// - a failure to reach the endpoint not at all.
///
/// The cache holds at most [`cache_capacity`](Self::cache_capacity) entries (default 10,000): when full,
/// expired entries go first, then refusals, then arbitrary ones. Concurrent verifications of one token share
/// one introspection call. Clones share the cache.
///
/// ```
/// use std::time::Duration;
/// use mcp_server::auth::IntrospectionVerifier;
///
/// let verifier = IntrospectionVerifier::new(
///     "https://auth.example.com/introspect",
///     "mcp-server",
///     "secret",
///     "https://mcp.example.com/mcp",
/// )
/// .timeout(Duration::from_secs(5))
/// .cache_ttl(Duration::from_secs(30))
/// .negative_cache_ttl(Duration::ZERO) // never cache refusals
/// .cache_capacity(50_000);
/// # let _ = verifier;
/// ```
#[derive(Debug, Clone)]
pub struct IntrospectionVerifier {
    call: Arc<Call>,
    connect_timeout: Duration,
    timeout: Duration,
    cache: Arc<Cache>,
}

/// What one introspection call needs; shared with the task that makes it.
#[derive(Clone)]
struct Call {
    endpoint: String,
    client_id: String,
    client_secret: String,
    audience: String,
    client: reqwest::Client,
    max_body: usize,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Call")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    exp: Option<u64>,
}

impl IntrospectionVerifier {
    /// Introspect at `endpoint` as `client_id`/`client_secret`; tokens must be for `audience`.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            call: Arc::new(Call {
                endpoint: endpoint.into(),
                client_id: client_id.into(),
                client_secret: client_secret.into(),
                audience: canonical_resource(&audience.into()),
                client: fetch::client(fetch::DEFAULT_CONNECT_TIMEOUT, fetch::DEFAULT_TIMEOUT),
                max_body: DEFAULT_MAX_BODY,
            }),
            connect_timeout: fetch::DEFAULT_CONNECT_TIMEOUT,
            timeout: fetch::DEFAULT_TIMEOUT,
            cache: Arc::new(Cache::new(CacheLimits::default())),
        }
    }

    /// Time allowed to connect to the endpoint (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        Arc::make_mut(&mut self.call).client = fetch::client(self.connect_timeout, self.timeout);
        self
    }

    /// Time allowed for one introspection call, response included (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        Arc::make_mut(&mut self.call).client = fetch::client(self.connect_timeout, self.timeout);
        self
    }

    /// Largest introspection response accepted, in bytes (default 64 KiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.call).max_body = bytes;
        self
    }

    /// The longest an active token's answer is reused (default 60 s; never past the token's `exp`).
    /// `Duration::ZERO` turns positive caching off.
    pub fn cache_ttl(self, d: Duration) -> Self {
        self.with_limits(|l| l.positive_ttl = d)
    }

    /// How long a refusal (inactive, expired, wrong audience) is reused (default 10 s). `Duration::ZERO`
    /// turns negative caching off.
    pub fn negative_cache_ttl(self, d: Duration) -> Self {
        self.with_limits(|l| l.negative_ttl = d)
    }

    /// Most answers kept (default 10,000). `0` turns the cache off.
    pub fn cache_capacity(self, entries: usize) -> Self {
        self.with_limits(|l| l.capacity = entries)
    }

    /// A fresh cache with changed limits (configuration happens before use, so nothing is lost).
    fn with_limits(mut self, change: impl FnOnce(&mut CacheLimits)) -> Self {
        let mut limits = self.cache.limits;
        change(&mut limits);
        self.cache = Arc::new(Cache::new(limits));
        self
    }
}

impl Call {
    async fn introspect(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let req = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        let body = fetch::send_capped("introspection", req, self.max_body).await?;
        let i: Introspection = serde_json::from_slice(&body)
            .map_err(|e| TokenError::Unavailable(format!("introspection response: {e}")))?;
        if !i.active {
            return Err(TokenError::InvalidToken("token is not active".into()));
        }
        if i.exp.is_some_and(|e| e <= unix_now()) {
            return Err(TokenError::Expired);
        }
        let audiences: Vec<String> = match i.aud {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|a| canonical_resource(a) == self.audience)
        {
            return Err(TokenError::WrongAudience);
        }
        Ok(VerifiedToken {
            subject: i
                .sub
                .ok_or_else(|| TokenError::InvalidToken("no sub".into()))?,
            scopes: i
                .scope
                .iter()
                .flat_map(|s| s.split_whitespace().map(str::to_owned))
                .collect(),
            client_id: i.client_id,
            audiences,
            expires_at: i.exp,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, TokenError>> {
        async move {
            let key = TokenKey::of(token);
            if let Some(hit) = self.cache.get(&key) {
                return hit;
            }
            self.cache.lookup(key, token, self.call.clone()).await
        }
        .boxed()
    }
}

/// The SHA-256 of a token: what the cache is keyed by, so raw tokens are never kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TokenKey([u8; 32]);

impl TokenKey {
    fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

#[derive(Debug, Clone, Copy)]
struct CacheLimits {
    positive_ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            positive_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            capacity: 10_000,
        }
    }
}

#[derive(Debug)]
struct Entry {
    outcome: Result<VerifiedToken, TokenError>,
    until: Instant,
}

type Lookup = Shared<BoxFuture<'static, Result<VerifiedToken, TokenError>>>;

struct Cache {
    limits: CacheLimits,
    entries: Mutex<HashMap<TokenKey, Entry>>,
    /// Introspection calls under way, so concurrent verifications of one token share one.
    in_flight: Mutex<HashMap<TokenKey, Lookup>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Cache {
    fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &TokenKey) -> Option<Result<VerifiedToken, TokenError>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some(e) if e.until > Instant::now() => Some(e.outcome.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Introspect `token`, joining a call already under way for it. The call runs as a task of its own, so
    /// it completes (within the client's timeout) and leaves `in_flight` even if every caller goes away.
    async fn lookup(
        self: &Arc<Self>,
        key: TokenKey,
        token: &str,
        call: Arc<Call>,
    ) -> Result<VerifiedToken, TokenError> {
        let shared = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let cache = self.clone();
                    let token = token.to_owned();
                    let task = tokio::spawn(async move {
                        let outcome = call.introspect(&token).await;
                        cache.store(key, &outcome);
                        cache
                            .in_flight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key);
                        outcome
                    });
                    let f = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(TokenError::Unavailable(format!(
                                "introspection failed: {e}"
                            )))
                        })
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(key, f.clone());
                    f
                }
            }
        };
        shared.await
    }

    fn store(&self, key: TokenKey, outcome: &Result<VerifiedToken, TokenError>) {
        let ttl = match outcome {
            Ok(v) => {
                let left = v.expires_at.map_or(Duration::MAX, |exp| {
                    Duration::from_secs(exp.saturating_sub(unix_now()))
                });
                self.limits.positive_ttl.min(left)
            }
            // Not reaching the endpoint says nothing about the token.
            Err(TokenError::Unavailable(_)) => return,
            Err(_) => self.limits.negative_ttl,
        };
        if ttl.is_zero() || self.limits.capacity == 0 {
            return;
        }
        // However long the configured TTL, an `Instant` must not overflow.
        let ttl = ttl.min(Duration::from_secs(365 * 24 * 3600));
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.limits.capacity && !entries.contains_key(&key) {
            make_room(&mut entries, self.limits.capacity, now);
        }
        entries.insert(
            key,
            Entry {
                outcome: outcome.clone(),
                until: now + ttl,
            },
        );
    }
}

/// Bring a full cache down to at most 7/8 of `capacity`, so the scan is paid once per many inserts: expired
/// entries first, then refusals (cheap to learn again, and what a flood of bad tokens fills the cache with),
/// then arbitrary ones.
fn make_room(entries: &mut HashMap<TokenKey, Entry>, capacity: usize, now: Instant) {
    let target = capacity - capacity / 8 - 1;
    entries.retain(|_, e| e.until > now);
    if entries.len() > target {
        entries.retain(|_, e| e.outcome.is_ok());
    }
    if entries.len() > target {
        let excess = entries.len() - target;
        let victims: Vec<TokenKey> = entries.keys().take(excess).copied().collect();
        for k in victims {
            entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(exp: Option<u64>) -> Result<VerifiedToken, TokenError> {
        Ok(VerifiedToken {
            subject: "s".into(),
            expires_at: exp,
            ..Default::default()
        })
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_good_answers_over_refusals() {
        let cache = Cache::new(CacheLimits {
            capacity: 100,
            ..Default::default()
        });
        for i in 0..50u32 {
            cache.store(TokenKey::of(&format!("good{i}")), &ok(None));
        }
        for i in 0..10_000u32 {
            cache.store(
                TokenKey::of(&format!("bad{i}")),
                &Err(TokenError::InvalidToken("inactive".into())),
            );
            assert!(cache.entries.lock().unwrap().len() <= 100);
        }
        for i in 0..50u32 {
            assert!(cache.get(&TokenKey::of(&format!("good{i}"))).is_some());
        }
    }

    #[test]
    fn answers_live_no_longer_than_the_token_and_failures_are_not_kept() {
        let cache = Cache::new(CacheLimits::default());
        let expiring = TokenKey::of("expiring");
        cache.store(expiring, &ok(Some(unix_now())));
        assert!(cache.get(&expiring).is_none(), "expires now: not cached");
        let later = TokenKey::of("later");
        cache.store(later, &ok(Some(unix_now() + 3600)));
        let until = cache.entries.lock().unwrap()[&later].until;
        assert!(until <= Instant::now() + Duration::from_secs(60));
        let down = TokenKey::of("down");
        cache.store(down, &Err(TokenError::Unavailable("x".into())));
        assert!(cache.get(&down).is_none());
    }
}
