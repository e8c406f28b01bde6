//! JWT access tokens verified against a JSON Web Key Set.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::fetch;

use futures::future::BoxFuture;
use futures::FutureExt;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{canonical_resource, TokenError, TokenVerifier, VerifiedToken};

/// Where a [`JwtVerifier`] gets its keys.
///
/// [`HttpJwks`] fetches the authorization server's `jwks_uri`; implement it to read keys from elsewhere
/// (a mounted secret, a configuration service):
///
/// ```
/// use futures::future::BoxFuture;
/// use jsonwebtoken::jwk::JwkSet;
/// use mcp_server::auth::{JwksSource, JwtVerifier, TokenError};
///
/// struct MountedKeys(std::path::PathBuf);
///
/// impl JwksSource for MountedKeys {
///     fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, TokenError>> {
///         Box::pin(async move {
///             let text = tokio::fs::read_to_string(&self.0).await
///                 .map_err(|e| TokenError::Unavailable(e.to_string()))?;
///             serde_json::from_str(&text).map_err(|e| TokenError::Unavailable(e.to_string()))
///         })
///     }
/// }
///
/// let verifier = JwtVerifier::with_source(MountedKeys("/run/secrets/jwks.json".into()), "https://mcp.example.com/mcp");
/// # let _ = verifier;
/// ```
pub trait JwksSource: Send + Sync + 'static {
    /// Fetch the current key set.
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, TokenError>>;
}

/// A JWKS served over HTTPS (the authorization server's `jwks_uri`), fetched with connect and total timeouts
/// (defaults 5 s and 10 s) and a cap on the document's size (default 1 MiB); a fetch that fails or exceeds
/// them makes verification [`Unavailable`](TokenError::Unavailable) (503), never a hang.
///
/// ```
/// use std::time::Duration;
/// use mcp_server::auth::{HttpJwks, JwtVerifier};
///
/// let jwks = HttpJwks::new("https://auth.example.com/jwks.json")
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(5))
///     .max_body_size(256 * 1024);
/// let verifier = JwtVerifier::with_source(jwks, "https://mcp.example.com/mcp");
/// # let _ = verifier;
/// ```
#[cfg(feature = "auth-remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth-remote")))]
#[derive(Debug, Clone)]
pub struct HttpJwks {
    url: String,
    client: reqwest::Client,
    connect_timeout: Duration,
    timeout: Duration,
    max_body: usize,
}

/// Default cap on a JWKS document: room for hundreds of keys with certificate chains.
#[cfg(feature = "auth-remote")]
const DEFAULT_MAX_JWKS: usize = 1024 * 1024;

#[cfg(feature = "auth-remote")]
impl HttpJwks {
    /// Keys from `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: fetch::client(fetch::DEFAULT_CONNECT_TIMEOUT, fetch::DEFAULT_TIMEOUT),
            connect_timeout: fetch::DEFAULT_CONNECT_TIMEOUT,
            timeout: fetch::DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_JWKS,
        }
    }

    /// Time allowed to connect (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self.client = fetch::client(self.connect_timeout, self.timeout);
        self
    }

    /// Time allowed for the whole fetch, body included (default 10 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self.client = fetch::client(self.connect_timeout, self.timeout);
        self
    }

    /// Largest key set document accepted, in bytes (default 1 MiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

#[cfg(feature = "auth-remote")]
impl JwksSource for HttpJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, TokenError>> {
        async move {
            let body =
                fetch::send_capped("JWKS", self.client.get(&self.url), self.max_body).await?;
            serde_json::from_slice::<JwkSet>(&body)
                .map_err(|e| TokenError::Unavailable(format!("JWKS is not a key set: {e}")))
        }
        .boxed()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Value>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    exp: Option<u64>,
}

/// Verifies JWT access tokens: signature by a key of the set (by `kid`), expiry, issuer (when set), and
/// audience = this server's canonical URI. An unknown `kid` triggers one refetch of the key set (at most every
/// `refetch_interval`), which is how key rotation is picked up.
///
/// Concurrent verifications that need the key set share one fetch. A fetch that fails or takes longer than
/// [`fetch_timeout`](Self::fetch_timeout) makes verification [`Unavailable`](TokenError::Unavailable) (503),
/// and so does an unknown key while the last fetch failed: the token may well be good, the keys are what is
/// missing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use mcp_server::auth::{HttpJwks, JwtVerifier, TokenError, TokenVerifier};
///
/// let verifier = JwtVerifier::with_source(
///     HttpJwks::new("https://auth.example.com/.well-known/jwks.json"),
///     "https://mcp.example.com/mcp",
/// )
/// .issuer("https://auth.example.com")
/// .leeway(Duration::from_secs(30))
/// .refetch_interval(Duration::from_secs(60));
///
/// // Garbage is refused before any key is fetched.
/// assert!(matches!(verifier.verify("not-a-jwt").await, Err(TokenError::InvalidToken(_))));
/// # }
/// ```
pub struct JwtVerifier {
    keys: RwLock<JwkSet>,
    source: Option<Box<dyn JwksSource>>,
    audience: String,
    issuer: Option<String>,
    /// Serialises fetches, so callers arriving during one wait for it instead of starting their own.
    fetch_state: tokio::sync::Mutex<FetchState>,
    refetch_interval: Duration,
    fetch_timeout: Duration,
    leeway: Duration,
}

#[derive(Default)]
struct FetchState {
    last: Option<Instant>,
    /// Why the last fetch failed, while that is the freshest news about the keys.
    failed: Option<TokenError>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier with fixed keys.
    pub fn with_jwks(keys: JwkSet, audience: impl Into<String>) -> Self {
        Self {
            keys: RwLock::new(keys),
            source: None,
            audience: canonical_resource(&audience.into()),
            issuer: None,
            fetch_state: tokio::sync::Mutex::new(FetchState::default()),
            refetch_interval: Duration::from_secs(30),
            fetch_timeout: fetch::DEFAULT_TIMEOUT,
            leeway: Duration::from_secs(60),
        }
    }

    /// A verifier whose keys come from `source` (fetched on first use, refetched on an unknown key id).
    pub fn with_source(source: impl JwksSource, audience: impl Into<String>) -> Self {
        let mut v = Self::with_jwks(JwkSet { keys: Vec::new() }, audience);
        v.source = Some(Box::new(source));
        v
    }

    /// Require this issuer (`iss`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The least time between two refetches of the key set (default 30 s), so bad tokens cannot hammer it.
    pub fn refetch_interval(mut self, d: Duration) -> Self {
        self.refetch_interval = d;
        self
    }

    /// The longest a key set fetch may take, whatever the source (default 10 s).
    pub fn fetch_timeout(mut self, d: Duration) -> Self {
        self.fetch_timeout = d;
        self
    }

    /// The clock skew tolerated on `exp` and `nbf` (default 60 s, as is usual between separate machines).
    pub fn leeway(mut self, d: Duration) -> Self {
        self.leeway = d;
        self
    }

    fn key_for(&self, kid: Option<&str>) -> Option<(DecodingKey, Option<jsonwebtoken::Algorithm>)> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let jwk = match kid {
            Some(kid) => keys.find(kid)?,
            None if keys.keys.len() == 1 => &keys.keys[0],
            None => return None,
        };
        let alg = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse().ok());
        DecodingKey::from_jwk(jwk).ok().map(|k| (k, alg))
    }

    /// Fetch the key set again unless that was done less than `refetch_interval` ago. Errs when the keys
    /// cannot be had (this fetch failed, or the last one did and it is too soon to retry).
    async fn refetch(&self) -> Result<(), TokenError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let mut state = self.fetch_state.lock().await;
        if state
            .last
            .is_some_and(|t| t.elapsed() < self.refetch_interval)
        {
            return state.failed.clone().map_or(Ok(()), Err);
        }
        state.last = Some(Instant::now());
        let fetched = match tokio::time::timeout(self.fetch_timeout, source.fetch()).await {
            Ok(r) => r,
            Err(_) => Err(TokenError::Unavailable(format!(
                "JWKS fetch took longer than {:?}",
                self.fetch_timeout
            ))),
        };
        match fetched {
            Ok(set) => {
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = set;
                state.failed = None;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the JWKS failed");
                state.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: jsonwebtoken::Algorithm,
    ) -> Result<VerifiedToken, TokenError> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway.as_secs();
        validation.set_audience(&[&self.audience]);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        validation.set_required_spec_claims(&["exp", "aud"]);
        let data = decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            jsonwebtoken::errors::ErrorKind::InvalidAudience => TokenError::WrongAudience,
            _ => TokenError::InvalidToken(e.to_string()),
        })?;
        let c = data.claims;
        let mut scopes: Vec<String> = c
            .scope
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_owned))
            .collect();
        match c.scp {
            Some(Value::Array(a)) => {
                scopes.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned)))
            }
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_owned)),
            _ => {}
        }
        let audiences = match c.aud {
            Some(Value::String(s)) => vec![s],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(VerifiedToken {
            subject: c
                .sub
                .ok_or_else(|| TokenError::InvalidToken("no sub claim".into()))?,
            scopes,
            client_id: c.client_id.or(c.azp),
            audiences,
            expires_at: c.exp,
        })
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, TokenError>> {
        async move {
            let header =
                decode_header(token).map_err(|e| TokenError::InvalidToken(e.to_string()))?;
            let kid = header.kid.as_deref();
            let (key, alg) = match self.key_for(kid) {
                Some(k) => k,
                None => {
                    // Unknown key: the authorization server may have rotated its keys.
                    self.refetch().await?;
                    self.key_for(kid)
                        .ok_or_else(|| TokenError::InvalidToken("unknown signing key".into()))?
                }
            };
            // The key decides the algorithm when it names one; never let the token pick a weaker one.
            let alg = alg.unwrap_or(header.alg);
            if alg != header.alg {
                return Err(TokenError::InvalidToken(
                    "token algorithm does not match its key".into(),
                ));
            }
            self.check(token, &key, alg)
        }
        .boxed()
    }
}
