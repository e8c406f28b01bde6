//! Opaque access tokens checked by RFC 7662 token introspection.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;
use serde_json::Value;

use super::{canonical_resource, AuthError, TokenVerifier, VerifiedToken};

/// Asks the authorization server's introspection endpoint about each token (authenticating with client
/// credentials), and checks that it is active, unexpired and meant for this server.
#[derive(Debug, Clone)]
pub struct IntrospectionVerifier {
    endpoint: String,
    client_id: String,
    client_secret: String,
    audience: String,
    client: reqwest::Client,
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
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            audience: canonical_resource(&audience.into()),
            client: reqwest::Client::new(),
        }
    }
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, AuthError>> {
        async move {
            let r = self
                .client
                .post(&self.endpoint)
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(&[("token", token), ("token_type_hint", "access_token")])
                .send()
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))?;
            if !r.status().is_success() {
                return Err(AuthError::Unavailable(format!(
                    "introspection answered {}",
                    r.status()
                )));
            }
            let i: Introspection = r
                .json()
                .await
                .map_err(|e| AuthError::Unavailable(e.to_string()))?;
            if !i.active {
                return Err(AuthError::InvalidToken("token is not active".into()));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if i.exp.is_some_and(|e| e <= now) {
                return Err(AuthError::Expired);
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
                return Err(AuthError::WrongAudience);
            }
            Ok(VerifiedToken {
                subject: i
                    .sub
                    .ok_or_else(|| AuthError::InvalidToken("no sub".into()))?,
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
        .boxed()
    }
}
