//! JWT access tokens verified against a JSON Web Key Set.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{canonical_resource, AuthError, TokenVerifier, VerifiedToken};

/// Where a [`JwtVerifier`] gets its keys.
pub trait JwksSource: Send + Sync + 'static {
    /// Fetch the current key set.
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>>;
}

/// A JWKS served over HTTPS (the authorization server's `jwks_uri`).
#[derive(Debug, Clone)]
pub struct HttpJwks {
    url: String,
    client: reqwest::Client,
}

impl HttpJwks {
    /// Keys from `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: reqwest::Client::new(),
        }
    }
}

impl JwksSource for HttpJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, AuthError>> {
        async move {
            let r = self
                .client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))?;
            if !r.status().is_success() {
                return Err(AuthError::Unavailable(format!(
                    "JWKS answered {}",
                    r.status()
                )));
            }
            r.json::<JwkSet>()
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))
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
pub struct JwtVerifier {
    keys: RwLock<JwkSet>,
    source: Option<Box<dyn JwksSource>>,
    audience: String,
    issuer: Option<String>,
    last_fetch: RwLock<Option<Instant>>,
    refetch_interval: Duration,
    leeway: Duration,
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
            last_fetch: RwLock::new(None),
            refetch_interval: Duration::from_secs(30),
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

    async fn refetch(&self) -> Result<bool, AuthError> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        {
            let last = self.last_fetch.read().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.refetch_interval) {
                return Ok(false);
            }
        }
        *self.last_fetch.write().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let set = source.fetch().await?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = set;
        Ok(true)
    }

    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        alg: jsonwebtoken::Algorithm,
    ) -> Result<VerifiedToken, AuthError> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway.as_secs();
        validation.set_audience(&[&self.audience]);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        validation.set_required_spec_claims(&["exp", "aud"]);
        let data = decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            jsonwebtoken::errors::ErrorKind::InvalidAudience => AuthError::WrongAudience,
            _ => AuthError::InvalidToken(e.to_string()),
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
                .ok_or_else(|| AuthError::InvalidToken("no sub claim".into()))?,
            scopes,
            client_id: c.client_id.or(c.azp),
            audiences,
            expires_at: c.exp,
        })
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, AuthError>> {
        async move {
            let header =
                decode_header(token).map_err(|e| AuthError::InvalidToken(e.to_string()))?;
            let kid = header.kid.as_deref();
            let (key, alg) = match self.key_for(kid) {
                Some(k) => k,
                None => {
                    // Unknown key: the authorization server may have rotated its keys.
                    self.refetch().await?;
                    self.key_for(kid)
                        .ok_or_else(|| AuthError::InvalidToken("unknown signing key".into()))?
                }
            };
            // The key decides the algorithm when it names one; never let the token pick a weaker one.
            let alg = alg.unwrap_or(header.alg);
            if alg != header.alg {
                return Err(AuthError::InvalidToken(
                    "token algorithm does not match its key".into(),
                ));
            }
            self.check(token, &key, alg)
        }
        .boxed()
    }
}
