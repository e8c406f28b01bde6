//! JWT assertions: the client's own (`private_key_jwt`, RFC 7523 §2.2) and grants presented to the token
//! endpoint with the JWT-bearer grant (RFC 7523 §2.1): a workload identity token, or an identity assertion
//! authorization grant (ID-JAG) obtained by token exchange at an enterprise identity provider.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::json;

use super::store::unix_now;
use super::token::{self, TokenFailure};
use crate::error::{AuthErrorKind, Error};

/// `client_assertion_type` of a JWT client assertion.
pub(crate) const CLIENT_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The JWT-bearer authorization grant.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// How long a client assertion is valid: just long enough to reach the token endpoint.
const CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// A private key the client authenticates with at the token endpoint (`private_key_jwt`).
#[derive(Clone)]
pub struct ClientKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A PEM private key (PKCS#8, or PKCS#1/SEC1) and the JWS algorithm to sign with (`ES256`, `ES384`,
    /// `RS256`, `PS256`, `EdDSA`, …).
    ///
    /// ```
    /// use mcp_client::auth::ClientKey;
    /// assert!(ClientKey::from_pem("not a key", "ES256").is_err());
    /// assert!(ClientKey::from_pem("", "HS256").is_err()); // not an asymmetric algorithm
    /// ```
    pub fn from_pem(pem: &str, alg: &str) -> Result<Self, Error> {
        let alg: Algorithm = alg.parse().map_err(|_| {
            Error::auth(
                AuthErrorKind::Unsupported,
                format!("unknown signing algorithm {alg:?}"),
            )
        })?;
        let bad = |e: jsonwebtoken::errors::Error| {
            Error::auth(
                AuthErrorKind::Unsupported,
                format!("unusable {alg:?} private key: {e}"),
            )
        };
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => {
                return Err(Error::auth(
                    AuthErrorKind::Unsupported,
                    format!("{alg:?} is not an asymmetric algorithm"),
                ))
            }
        }
        .map_err(bad)?;
        Ok(Self {
            key,
            alg,
            kid: None,
        })
    }

    /// The `kid` to put in the assertion header (when the authorization server holds several keys).
    pub fn with_key_id(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The JWS algorithm name (`ES256`, …), as listed in `token_endpoint_auth_signing_alg_values_supported`.
    pub fn algorithm(&self) -> String {
        format!("{:?}", self.alg)
    }

    /// A client assertion (RFC 7523 §3): `iss` and `sub` are the client id, `aud` the authorization
    /// server's issuer identifier, with a fresh `jti` and a short lifetime.
    pub(crate) fn client_assertion(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<String, Error> {
        let now = unix_now();
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + CLIENT_ASSERTION_LIFETIME.as_secs(),
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        });
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
            Error::auth(
                AuthErrorKind::Token,
                format!("signing the client assertion failed: {e}"),
            )
        })
    }
}

/// What an [`AssertionSource`] is asked for: a grant for this authorization server and resource.
#[derive(Debug, Clone)]
pub struct AssertionRequest {
    /// The authorization server's issuer identifier (the assertion's audience).
    pub issuer: String,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// The protected resource (the MCP server's canonical URI).
    pub resource: String,
    /// The scopes about to be requested.
    pub scopes: Vec<String>,
}

/// Where the JWT presented with the JWT-bearer grant comes from (see
/// [`OAuthClientBuilder::jwt_bearer`](super::OAuthClientBuilder::jwt_bearer)).
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_client::auth::{AssertionRequest, AssertionSource, OAuthClient, PreRegistered};
/// use mcp_client::Error;
///
/// /// Asks the platform's metadata service for a token with the authorization server as audience.
/// struct Workload { endpoint: String }
///
/// impl AssertionSource for Workload {
///     fn assertion<'a>(&'a self, http: &'a reqwest::Client, request: &'a AssertionRequest)
///         -> BoxFuture<'a, Result<String, Error>> {
///         Box::pin(async move {
///             let resp = http.get(&self.endpoint).query(&[("audience", &request.issuer)]).send().await
///                 .map_err(|e| Error::from_auth(mcp_client::AuthErrorKind::Network, e))?;
///             resp.text().await.map_err(|e| Error::from_auth(mcp_client::AuthErrorKind::Network, e))
///         })
///     }
/// }
///
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
///     .pre_registered(PreRegistered { client_id: "batch".into(), ..Default::default() })
///     .jwt_bearer(Workload { endpoint: "http://169.254.169.254/identity".into() })
///     .build();
/// # let _ = oauth;
/// ```
pub trait AssertionSource: Send + Sync + 'static {
    /// A fresh assertion for `request`.
    fn assertion<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a AssertionRequest,
    ) -> BoxFuture<'a, Result<String, Error>>;
}

/// An assertion handed over as is (a workload identity token your platform issued).
#[derive(Clone)]
pub struct FixedAssertion(String);

impl FixedAssertion {
    /// Use `jwt` as the assertion.
    pub fn new(jwt: impl Into<String>) -> Self {
        Self(jwt.into())
    }
}

impl std::fmt::Debug for FixedAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FixedAssertion(…)")
    }
}

impl AssertionSource for FixedAssertion {
    fn assertion<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _request: &'a AssertionRequest,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// A workload identity token read from a file each time one is needed, as platforms that rotate them on
/// disk expect (Kubernetes projected service account tokens, GitHub Actions, SPIFFE helpers).
#[derive(Debug, Clone)]
pub struct FileAssertion(PathBuf);

impl FileAssertion {
    /// Read the assertion from `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
}

impl AssertionSource for FileAssertion {
    fn assertion<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _request: &'a AssertionRequest,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.0).await.map_err(|e| {
                Error::auth(
                    AuthErrorKind::Token,
                    format!("reading the assertion {:?}: {e}", self.0),
                )
            })?;
            let jwt = text.trim();
            if jwt.is_empty() {
                return Err(Error::auth(
                    AuthErrorKind::Token,
                    format!("the assertion file {:?} is empty", self.0),
                ));
            }
            Ok(jwt.to_owned())
        })
    }
}

/// Enterprise-managed authorization: the user's identity provider turns their ID token into an identity
/// assertion authorization grant (ID-JAG) for the MCP server's authorization server, by token exchange
/// (RFC 8693); the client then presents it with the JWT-bearer grant.
#[derive(Clone)]
pub struct IdJagExchange {
    token_endpoint: String,
    client_id: String,
    client_secret: Option<String>,
    id_token: Arc<dyn AssertionSource>,
}

impl std::fmt::Debug for IdJagExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdJagExchange")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl IdJagExchange {
    /// Exchange at the identity provider's `token_endpoint`, as its client `client_id`, the ID token that
    /// `id_token` supplies (a [`FixedAssertion`] of the one from the user's single sign-on).
    pub fn new(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        id_token: impl AssertionSource,
    ) -> Self {
        Self {
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: None,
            id_token: Arc::new(id_token),
        }
    }

    /// Authenticate to the identity provider with a client secret (HTTP Basic).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }
}

impl AssertionSource for IdJagExchange {
    fn assertion<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a AssertionRequest,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let id_token = self.id_token.assertion(http, request).await?;
            let mut form = vec![
                ("grant_type".to_owned(), TOKEN_EXCHANGE_GRANT.to_owned()),
                ("requested_token_type".into(), ID_JAG_TYPE.into()),
                ("subject_token".into(), id_token),
                ("subject_token_type".into(), ID_TOKEN_TYPE.into()),
                ("audience".into(), request.issuer.clone()),
                ("resource".into(), request.resource.clone()),
            ];
            if !request.scopes.is_empty() {
                form.push(("scope".into(), request.scopes.join(" ")));
            }
            let idp_client = super::ClientRegistration {
                issuer: String::new(),
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                token_endpoint_auth_method: None,
            };
            let rb = token::authenticate(http.post(&self.token_endpoint), &mut form, &idp_client);
            let resp = token::send_raw(rb, &form).await.map_err(|e| match e {
                TokenFailure::OAuth { status, error, .. } => Error::auth(
                    AuthErrorKind::Token,
                    format!("identity provider token exchange: HTTP {status}: {error}"),
                ),
                TokenFailure::Other(e) => e,
            })?;
            #[derive(serde::Deserialize)]
            struct Exchanged {
                access_token: String,
                #[serde(default)]
                issued_token_type: Option<String>,
            }
            let exchanged: Exchanged = serde_json::from_slice(&resp).map_err(|e| {
                Error::auth(
                    AuthErrorKind::Token,
                    format!("unreadable token exchange response: {e}"),
                )
            })?;
            if exchanged.issued_token_type.as_deref() != Some(ID_JAG_TYPE) {
                return Err(Error::auth(
                    AuthErrorKind::Token,
                    format!(
                        "the identity provider issued {:?}, not an ID-JAG",
                        exchanged.issued_token_type
                    ),
                ));
            }
            Ok(exchanged.access_token)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    // A throwaway P-256 key generated for this test only.
    const TEST_EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkbR5jSHQj2bzr/b6
RT+J1rYIrbuYhgtlaCk3jLFDsbChRANCAAQ+iZXJPyjUOFurLkwkRjZhFziUQfz3
CotEZSAMpztQF0fYz4d9gIgkAYp9I7PzsOoxI4q+gJ59aRsdxcm3KuP0
-----END PRIVATE KEY-----";
    const TEST_EC_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPomVyT8o1Dhbqy5MJEY2YRc4lEH8
9wqLRGUgDKc7UBdH2M+HfYCIJAGKfSOz87DqMSOKvoCefWkbHcXJtyrj9A==
-----END PUBLIC KEY-----";

    #[test]
    fn client_assertion_verifies_with_the_public_key() {
        let key = ClientKey::from_pem(TEST_EC_KEY, "ES256")
            .unwrap()
            .with_key_id("k1");
        assert_eq!(key.algorithm(), "ES256");
        let jwt = key
            .client_assertion("my-client", "https://as.example")
            .unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["https://as.example"]);
        v.set_issuer(&["my-client"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &DecodingKey::from_ec_pem(TEST_EC_PUB.as_bytes()).unwrap(),
            &v,
        )
        .unwrap();
        assert_eq!(data.header.kid.as_deref(), Some("k1"));
        assert_eq!(data.claims["sub"], "my-client");
        assert!(data.claims["jti"].as_str().unwrap().len() >= 32);
        let other = key
            .client_assertion("my-client", "https://as.example")
            .unwrap();
        assert_ne!(other, jwt, "every assertion has its own jti");
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(ClientKey::from_pem(TEST_EC_KEY, "RS256").is_err());
        assert!(ClientKey::from_pem(TEST_EC_KEY, "none").is_err());
        assert!(ClientKey::from_pem("garbage", "ES256").is_err());
    }
}
