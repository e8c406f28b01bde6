//! [`OAuthClient`] itself and its [`AuthProvider`](crate::auth::AuthProvider) implementation: attach a
//! token (refreshing it first when it is about to expire) and react to refusals.

use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};

use super::builder::{Grant, OAuthClientBuilder};
use super::inner::{lock, Inner, REFRESH_MARGIN};
use super::scopes::pick_challenge;
use crate::auth::store::{MemoryTokenStore, TokenSet};
use crate::auth::{bearer_value, AuthErrorKind, AuthProvider, Error, Refusal};

/// An OAuth 2.1 client for one MCP server. See the [module docs](crate::auth) for what it does.
///
/// Sign in before the first request (a refusal would start the same flow), and share one client between
/// the transport and your code:
///
/// ```no_run
/// # async fn run() -> Result<(), mcp_client::Error> {
/// use mcp_client::auth::{HeadlessAuthorizer, OAuthClient};
/// use mcp_client::transport::HttpTransport;
///
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
///     .authorizer(HeadlessAuthorizer::new("http://127.0.0.1:8765/callback"))
///     .scopes(["tools:read"])
///     .build()?;
/// oauth.authorize().await?;
/// println!("token expires at {:?}", oauth.tokens().and_then(|t| t.expires_at));
/// let transport = HttpTransport::builder("https://mcp.example.com/mcp").auth(oauth.clone()).build()?;
/// let client = mcp_client::Client::builder().connect(transport).await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("server", &self.inner.server.as_str())
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// Start configuring a client for the MCP server at `server_url`.
    pub fn builder(server_url: impl Into<String>) -> OAuthClientBuilder {
        OAuthClientBuilder {
            server: server_url.into(),
            client_name: "mcp-rs client".into(),
            authorizer: None,
            store: Arc::new(MemoryTokenStore::new()),
            http: None,
            pre_registered: Vec::new(),
            client_metadata_url: None,
            scopes: None,
            offline_access: true,
            application_type: None,
            grant: Grant::AuthorizationCode,
            dpop: true,
        }
    }

    /// The tokens in use, if any.
    pub fn tokens(&self) -> Option<TokenSet> {
        lock(&self.inner.current).clone()
    }

    /// Authorize now (discovering everything from the server's challenge), instead of waiting for the first
    /// request to be refused. Useful to sign in before a long-running session starts.
    pub async fn authorize(&self) -> Result<(), Error> {
        let mut state = self.inner.flow.lock().await;
        self.inner.load(&mut state).await?;
        let resp = self
            .inner
            .http
            .post(self.inner.server.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
            .send()
            .await
            .map_err(Error::auth_network)?;
        let challenges = crate::auth::parse_challenges(
            resp.headers()
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let challenge = pick_challenge(&challenges);
        self.inner
            .full_flow(&mut state, challenge.as_ref(), &[])
            .await
    }
}

impl AuthProvider for OAuthClient {
    fn headers<'a>(
        &'a self,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, Error>> {
        Box::pin(async move {
            let inner = &self.inner;
            // Renewable: a refresh token, or a grant that needs no user and can simply run again.
            let renewable = |t: &TokenSet| {
                t.needs_renewal(REFRESH_MARGIN)
                    && (t.refresh_token.is_some() || !inner.grant.interactive())
            };
            let mut tokens = lock(&inner.current).clone();
            let stale = !inner.loaded.load(std::sync::atomic::Ordering::Acquire)
                || tokens.as_ref().is_some_and(renewable);
            if stale {
                let mut state = inner.flow.lock().await;
                inner.load(&mut state).await?;
                tokens = lock(&inner.current).clone();
                if let Some(t) = tokens.as_ref().filter(|t| renewable(t)) {
                    let renewed = match t.refresh_token {
                        Some(_) => {
                            let issuer = t.issuer.clone();
                            inner.refresh(&mut state, &issuer).await
                        }
                        None => inner.full_flow(&mut state, None, &[]).await,
                    };
                    if let Err(e) = renewed {
                        // Not fatal: the request goes with the old token and a 401 starts a new flow.
                        tracing::warn!(error = %e, "token renewal failed");
                    }
                    tokens = lock(&inner.current).clone();
                }
            }
            let Some(t) = tokens else {
                return Ok(Vec::new());
            };
            if !t.token_type.eq_ignore_ascii_case("DPoP") {
                return Ok(vec![(
                    AUTHORIZATION,
                    bearer_value("Bearer", &t.access_token)?,
                )]);
            }
            // A DPoP-bound token is worthless without its key: without one, go unauthenticated and let
            // the server's challenge start a new flow.
            let Some(key) = lock(&inner.dpop_key).clone() else {
                return Ok(Vec::new());
            };
            let nonce = lock(&inner.rs_nonce).clone();
            let proof = key.proof(method, url, Some(&t.access_token), nonce.as_deref());
            let proof = HeaderValue::from_str(&proof)
                .map_err(|_| Error::auth(AuthErrorKind::Token, "unusable DPoP proof".into()))?;
            Ok(vec![
                (AUTHORIZATION, bearer_value("DPoP", &t.access_token)?),
                (HeaderName::from_static("dpop"), proof),
            ])
        })
    }

    fn refused<'a>(&'a self, refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, Error>> {
        // The flow runs in its own task: if the request that triggered it is dropped (its timeout, a user
        // still signing in), the flow still completes and the next request finds the tokens.
        let inner = self.inner.clone();
        let refusal = refusal.clone();
        let task = tokio::spawn(async move { inner.refused(&refusal).await });
        Box::pin(async move {
            task.await.map_err(|e| {
                Error::auth(
                    AuthErrorKind::Authorization,
                    format!("authorization task failed: {e}"),
                )
            })?
        })
    }
}
