//! [`OAuthClient`]: the authorization code flow as an [`AuthProvider`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde_json::json;

use super::assertion::{AssertionRequest, AssertionSource, ClientKey, JWT_BEARER_GRANT};
use super::challenge::Challenge;
use super::dpop::{DpopKey, DPOP_ALG};
use super::metadata::{
    canonical_resource, discover_authorization_server, discover_resource, origin_string,
    AuthorizationServerMetadata, ProtectedResourceMetadata,
};
use super::pkce::{random_token, Pkce};
use super::redirect::{Authorizer, HeadlessAuthorizer};
use super::store::{ClientRegistration, MemoryTokenStore, StoredCredentials, TokenSet, TokenStore};
use super::token::{TokenEndpoint, TokenFailure};
use super::{bearer_value, AuthError, AuthProvider, Refusal};

/// Refresh access tokens this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Credentials issued out of band (RFC 6749 §2), used before any other registration method.
#[derive(Clone, Default)]
pub struct PreRegistered {
    /// The client id.
    pub client_id: String,
    /// The client secret, for a confidential client.
    pub client_secret: Option<String>,
    /// The issuer that issued them. `None`: they are bound to the first authorization server they are used
    /// with and never presented to another.
    pub issuer: Option<String>,
    /// The token endpoint authentication method; by default `private_key_jwt` when there is a private key,
    /// `client_secret_basic` when there is a secret (or `client_secret_post` if the server lists only that),
    /// else `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// The private key for `private_key_jwt` (RFC 7523 client assertions).
    pub private_key: Option<ClientKey>,
}

impl std::fmt::Debug for PreRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreRegistered")
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Configures an [`OAuthClient`].
pub struct OAuthClientBuilder {
    server: String,
    client_name: String,
    authorizer: Option<Arc<dyn Authorizer>>,
    store: Arc<dyn TokenStore>,
    http: Option<reqwest::Client>,
    pre_registered: Vec<PreRegistered>,
    client_metadata_url: Option<String>,
    scopes: Option<Vec<String>>,
    offline_access: bool,
    application_type: Option<String>,
    grant: Grant,
    dpop: bool,
}

/// How tokens are obtained.
#[derive(Clone)]
enum Grant {
    /// A user signs in: the authorization code flow.
    AuthorizationCode,
    /// The client acts on its own behalf (RFC 6749 §4.4).
    ClientCredentials,
    /// An assertion from elsewhere is traded for a token (RFC 7523 §2.1).
    JwtBearer(Arc<dyn AssertionSource>),
}

impl Grant {
    fn interactive(&self) -> bool {
        matches!(self, Grant::AuthorizationCode)
    }
}

impl std::fmt::Debug for OAuthClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientBuilder")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl OAuthClientBuilder {
    /// The `client_name` sent at registration (default `mcp-rs client`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }
    /// How the user is sent to the authorization server (default: a [`HeadlessAuthorizer`] with redirect URI
    /// `http://localhost:3000/callback`, which only suits servers that approve without a user).
    pub fn authorizer(mut self, authorizer: impl Authorizer) -> Self {
        self.authorizer = Some(Arc::new(authorizer));
        self
    }
    /// Where registrations and tokens are kept (default: in memory).
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Arc::new(store);
        self
    }
    /// The HTTP client for metadata, registration and token requests.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }
    /// Use credentials issued out of band (may be given once per issuer).
    pub fn pre_registered(mut self, creds: PreRegistered) -> Self {
        self.pre_registered.push(creds);
        self
    }
    /// The HTTPS URL of this client's Client ID Metadata Document, used as the client id with authorization
    /// servers that support them.
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.client_metadata_url = Some(url.into());
        self
    }
    /// Scopes to ask for when the server's challenge names none (instead of the resource's
    /// `scopes_supported`).
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
    /// Ask for `offline_access` (a refresh token) when the authorization server lists it (default true).
    pub fn offline_access(mut self, yes: bool) -> Self {
        self.offline_access = yes;
        self
    }
    /// The `application_type` sent at registration (default: `native` for loopback or custom-scheme redirect
    /// URIs, `web` otherwise).
    pub fn application_type(mut self, t: impl Into<String>) -> Self {
        self.application_type = Some(t.into());
        self
    }

    /// Obtain tokens with the client credentials grant (no user; the client acts for itself), authenticating
    /// with pre-registered credentials: a secret, or a [`ClientKey`] for `private_key_jwt`.
    ///
    /// ```
    /// use mcp_client::auth::{OAuthClient, PreRegistered};
    /// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
    ///     .pre_registered(PreRegistered {
    ///         client_id: "reporting-job".into(),
    ///         client_secret: Some("s3cret".into()),
    ///         ..Default::default()
    ///     })
    ///     .client_credentials()
    ///     .build()
    ///     .unwrap();
    /// # let _ = oauth;
    /// ```
    pub fn client_credentials(mut self) -> Self {
        self.grant = Grant::ClientCredentials;
        self
    }

    /// Obtain tokens with the JWT-bearer grant (RFC 7523): the assertion comes from `source`, e.g. a
    /// workload identity token ([`FixedAssertion`](super::FixedAssertion),
    /// [`FileAssertion`](super::FileAssertion)) or an enterprise identity provider's ID-JAG
    /// ([`IdJagExchange`](super::IdJagExchange)). The client authenticates with its pre-registered
    /// credentials (or only names its `client_id` when it has no secret). A refused assertion is reported,
    /// never retried with another grant.
    ///
    /// ```
    /// use mcp_client::auth::{FileAssertion, OAuthClient, PreRegistered};
    /// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
    ///     .pre_registered(PreRegistered { client_id: "ci-workload".into(), ..Default::default() })
    ///     .jwt_bearer(FileAssertion::new("/var/run/secrets/tokens/mcp"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = oauth;
    /// ```
    pub fn jwt_bearer(mut self, source: impl AssertionSource) -> Self {
        self.grant = Grant::JwtBearer(Arc::new(source));
        self
    }

    /// Use DPoP sender-constrained tokens (RFC 9449) when the authorization server offers them with ES256
    /// (default true). The proof key is kept with the tokens in the [`TokenStore`].
    pub fn dpop(mut self, yes: bool) -> Self {
        self.dpop = yes;
        self
    }

    /// Build the client.
    pub fn build(self) -> Result<OAuthClient, AuthError> {
        let server = Url::parse(&self.server).map_err(|e| {
            AuthError::Metadata(format!("invalid server URL {:?}: {e}", self.server))
        })?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| AuthError::Network(e.to_string()))?,
        };
        let authorizer = self
            .authorizer
            .unwrap_or_else(|| Arc::new(HeadlessAuthorizer::new("http://localhost:3000/callback")));
        let application_type = self
            .application_type
            .unwrap_or_else(|| default_application_type(authorizer.redirect_uri()).into());
        Ok(OAuthClient {
            inner: Arc::new(Inner {
                key: canonical_resource(&server),
                server,
                client_name: self.client_name,
                authorizer,
                store: self.store,
                http,
                pre_registered: self.pre_registered,
                client_metadata_url: self.client_metadata_url,
                scopes: self.scopes,
                offline_access: self.offline_access,
                application_type,
                grant: self.grant,
                dpop: self.dpop,
                dpop_key: Mutex::new(None),
                as_nonce: Mutex::new(None),
                rs_nonce: Mutex::new(None),
                current: Mutex::new(None),
                loaded: std::sync::atomic::AtomicBool::new(false),
                flow: tokio::sync::Mutex::new(FlowState::default()),
            }),
        })
    }
}

fn default_application_type(redirect_uri: &str) -> &'static str {
    match Url::parse(redirect_uri) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => "native",
        Ok(u) if matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => "native",
        _ => "web",
    }
}

/// An OAuth 2.1 client for one MCP server. See the [module docs](super) for what it does.
#[derive(Clone)]
pub struct OAuthClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("server", &self.inner.server.as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    server: Url,
    /// The store key: the server's canonical URI.
    key: String,
    client_name: String,
    authorizer: Arc<dyn Authorizer>,
    store: Arc<dyn TokenStore>,
    http: reqwest::Client,
    pre_registered: Vec<PreRegistered>,
    client_metadata_url: Option<String>,
    scopes: Option<Vec<String>>,
    offline_access: bool,
    application_type: String,
    grant: Grant,
    /// Whether DPoP may be used.
    dpop: bool,
    /// The DPoP key of the current tokens (set when they are DPoP-bound).
    dpop_key: Mutex<Option<DpopKey>>,
    /// The authorization server's latest DPoP nonce.
    as_nonce: Mutex<Option<String>>,
    /// The resource server's latest DPoP nonce.
    rs_nonce: Mutex<Option<String>>,
    /// The tokens in use, readable without waiting for a flow.
    current: Mutex<Option<TokenSet>>,
    /// Whether the store has been read (until then requests wait for it).
    loaded: std::sync::atomic::AtomicBool,
    /// Held while discovering, registering, authorizing or refreshing: one flow at a time.
    flow: tokio::sync::Mutex<FlowState>,
}

#[derive(Default)]
struct FlowState {
    loaded: bool,
    creds: StoredCredentials,
    /// What discovery found last.
    discovered: Option<Discovered>,
    /// The scopes of the last authorization request.
    requested: Vec<String>,
}

#[derive(Clone)]
struct Discovered {
    prm: Option<ProtectedResourceMetadata>,
    metadata: AuthorizationServerMetadata,
    /// False for the 2025-03-26 default endpoints (no metadata document was found).
    from_document: bool,
    /// The RFC 8707 `resource` to ask tokens for.
    resource: String,
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
    pub async fn authorize(&self) -> Result<(), AuthError> {
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
            .map_err(|e| AuthError::Network(e.to_string()))?;
        let challenges = super::parse_challenges(
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Bearer challenge (or any, if none is Bearer).
fn pick_challenge(challenges: &[Challenge]) -> Option<Challenge> {
    challenges
        .iter()
        .find(|c| c.is("Bearer"))
        .or_else(|| challenges.first())
        .cloned()
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for s in b {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

impl AuthProvider for OAuthClient {
    fn headers<'a>(
        &'a self,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, AuthError>> {
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
                .map_err(|_| AuthError::Token("unusable DPoP proof".into()))?;
            Ok(vec![
                (AUTHORIZATION, bearer_value("DPoP", &t.access_token)?),
                (HeaderName::from_static("dpop"), proof),
            ])
        })
    }

    fn refused<'a>(&'a self, refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, AuthError>> {
        // The flow runs in its own task: if the request that triggered it is dropped (its timeout, a user
        // still signing in), the flow still completes and the next request finds the tokens.
        let inner = self.inner.clone();
        let refusal = refusal.clone();
        let task = tokio::spawn(async move { inner.refused(&refusal).await });
        Box::pin(async move {
            task.await
                .map_err(|e| AuthError::Authorization(format!("authorization task failed: {e}")))?
        })
    }
}

impl Inner {
    async fn load(&self, state: &mut FlowState) -> Result<(), AuthError> {
        if state.loaded {
            return Ok(());
        }
        if let Some(creds) = self.store.load(&self.key).await? {
            *lock(&self.current) = creds.tokens.clone();
            *lock(&self.dpop_key) = match creds.dpop_key.as_deref().map(DpopKey::import) {
                Some(Ok(k)) => Some(k),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "ignoring the stored DPoP key");
                    None
                }
                None => None,
            };
            state.creds = creds;
        }
        state.loaded = true;
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    async fn save(&self, state: &mut FlowState) -> Result<(), AuthError> {
        *lock(&self.current) = state.creds.tokens.clone();
        self.store.save(&self.key, &state.creds).await
    }

    async fn refused(&self, refusal: &Refusal) -> Result<bool, AuthError> {
        // RFC 9449 §9: the resource server wants DPoP proofs to carry its nonce. Nothing else is wrong:
        // send the request again (a bounded number of times) with a proof that carries it.
        if refusal.status == 401
            && refusal
                .challenges
                .iter()
                .any(|c| c.is("DPoP") && c.error() == Some("use_dpop_nonce"))
        {
            if let Some(nonce) = &refusal.dpop_nonce {
                *lock(&self.rs_nonce) = Some(nonce.clone());
                if refusal.attempt >= 3 {
                    return Err(AuthError::RetriesExhausted(
                        "the server keeps asking for a new DPoP nonce".into(),
                    ));
                }
                return Ok(true);
            }
        }
        let sent = refusal.access_token.clone();
        let mut state = self.flow.lock().await;
        self.load(&mut state).await?;
        // Another request already replaced the token this one was refused with: just retry.
        let now = lock(&self.current).as_ref().map(|t| t.access_token.clone());
        if now.is_some() && now != sent {
            return Ok(true);
        }
        let challenge = pick_challenge(&refusal.challenges);
        match refusal.status {
            401 => {
                // An expired token: refresh before bothering the user, but only once per request and only
                // with the authorization server that still protects the resource.
                if refusal.attempt == 0 {
                    let issuer = state
                        .creds
                        .tokens
                        .as_ref()
                        .and_then(|t| t.refresh_token.as_ref().map(|_| t.issuer.clone()));
                    if let Some(issuer) = issuer {
                        let hint = challenge.as_ref().and_then(|c| c.resource_metadata());
                        let current = self.discover(&mut state, hint).await?;
                        if current.metadata.issuer == issuer {
                            match self.refresh(&mut state, &issuer).await {
                                Ok(()) => return Ok(true),
                                Err(e) => {
                                    tracing::info!(error = %e, "refresh failed; re-authorizing")
                                }
                            }
                        }
                    }
                }
                if refusal.attempt >= 2 {
                    return Err(AuthError::RetriesExhausted(
                        "the server keeps answering 401".into(),
                    ));
                }
                self.full_flow(&mut state, challenge.as_ref(), &[]).await?;
                Ok(true)
            }
            403 => {
                let Some(c) = challenge.filter(|c| c.error() == Some("insufficient_scope")) else {
                    return Ok(false);
                };
                let had = state
                    .creds
                    .tokens
                    .as_ref()
                    .map(|t| union(&t.scopes, &state.requested))
                    .unwrap_or_else(|| state.requested.clone());
                let wanted = union(&had, &c.scopes());
                // Asking again for what was just granted will not help more than once.
                if wanted.len() == had.len() && refusal.attempt >= 1 || refusal.attempt >= 3 {
                    return Err(AuthError::RetriesExhausted(format!(
                        "insufficient scope after re-authorizing with {:?}",
                        wanted.join(" ")
                    )));
                }
                tracing::info!(scopes = %wanted.join(" "), "step-up authorization");
                self.full_flow(&mut state, Some(&c), &wanted).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Discover the resource's authorization server and its metadata (always fetched afresh: a 401 may mean
    /// the resource moved to another authorization server).
    async fn discover(
        &self,
        state: &mut FlowState,
        hint: Option<&str>,
    ) -> Result<Discovered, AuthError> {
        let prm = discover_resource(&self.http, &self.server, hint).await?;
        let d = match prm {
            Some(prm) => {
                let issuer = prm.authorization_servers.first().cloned().ok_or_else(|| {
                    AuthError::Metadata(
                        "protected resource metadata lists no authorization server".into(),
                    )
                })?;
                let metadata = discover_authorization_server(&self.http, &issuer)
                    .await?
                    .ok_or_else(|| {
                        AuthError::Metadata(format!("no metadata found for issuer {issuer}"))
                    })?;
                Discovered {
                    resource: canonical_resource(
                        &Url::parse(&prm.resource).unwrap_or_else(|_| self.server.clone()),
                    ),
                    prm: Some(prm),
                    metadata,
                    from_document: true,
                }
            }
            None => {
                // A 2025-03-26 server: its authorization server is at its origin.
                let issuer = origin_string(&self.server);
                let found = discover_authorization_server(&self.http, &issuer).await?;
                let from_document = found.is_some();
                let origin = Url::parse(&issuer).map_err(|e| AuthError::Metadata(e.to_string()))?;
                Discovered {
                    prm: None,
                    metadata: found
                        .unwrap_or_else(|| AuthorizationServerMetadata::fallback(&origin)),
                    from_document,
                    resource: canonical_resource(&self.server),
                }
            }
        };
        state.discovered = Some(d.clone());
        Ok(d)
    }

    fn initial_scopes(&self, d: &Discovered, challenge: Option<&Challenge>) -> Vec<String> {
        let from_challenge = challenge.map(Challenge::scopes).unwrap_or_default();
        if !from_challenge.is_empty() {
            return from_challenge;
        }
        if let Some(s) = &self.scopes {
            return s.clone();
        }
        d.prm
            .as_ref()
            .and_then(|p| p.scopes_supported.clone())
            .unwrap_or_default()
    }

    /// Discover, register if needed, and run the authorization code flow.
    async fn full_flow(
        &self,
        state: &mut FlowState,
        challenge: Option<&Challenge>,
        scopes: &[String],
    ) -> Result<(), AuthError> {
        let d = self
            .discover(state, challenge.and_then(|c| c.resource_metadata()))
            .await?;
        let mut scopes = if scopes.is_empty() {
            self.initial_scopes(&d, challenge)
        } else {
            scopes.to_vec()
        };
        if self.offline_access
            && self.grant.interactive()
            && d.metadata.supports_scope("offline_access")
            && d.metadata.supports_grant("refresh_token")
            && !scopes.iter().any(|s| s == "offline_access")
        {
            scopes.push("offline_access".into());
        }
        // Tokens from another issuer are useless now (and must never be sent to it).
        if state
            .creds
            .tokens
            .as_ref()
            .is_some_and(|t| t.issuer != d.metadata.issuer)
        {
            state.creds.tokens = None;
        }
        let client = self.client_for(state, &d).await?;
        state.requested = scopes.clone();
        let dpop = self.dpop_key_for(state, &d.metadata);
        let endpoint = self.token_endpoint(&d, &client, dpop.as_ref());
        let tokens = match &self.grant {
            Grant::AuthorizationCode => {
                self.authorization_code(&d, &client, &endpoint, &scopes)
                    .await?
            }
            Grant::ClientCredentials => {
                let mut form = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
                with_scope_and_resource(&mut form, &scopes, &d.resource);
                let resp = endpoint.request(&form).await.map_err(AuthError::from)?;
                tracing::info!(issuer = %d.metadata.issuer, "client credentials granted");
                resp.into_token_set(&d.metadata.issuer, &scopes, None)
            }
            Grant::JwtBearer(source) => {
                let request = AssertionRequest {
                    issuer: d.metadata.issuer.clone(),
                    token_endpoint: d.metadata.token_endpoint.clone(),
                    resource: d.resource.clone(),
                    scopes: scopes.clone(),
                };
                let assertion = source.assertion(&self.http, &request).await?;
                let mut form = vec![
                    ("grant_type".to_owned(), JWT_BEARER_GRANT.to_owned()),
                    ("assertion".into(), assertion),
                ];
                with_scope_and_resource(&mut form, &scopes, &d.resource);
                let resp = endpoint.request(&form).await.map_err(AuthError::from)?;
                tracing::info!(issuer = %d.metadata.issuer, "JWT-bearer grant accepted");
                resp.into_token_set(&d.metadata.issuer, &scopes, None)
            }
        };
        // The key goes with the tokens it is bound to (and is stored with them).
        let bound = tokens.token_type.eq_ignore_ascii_case("DPoP");
        state.creds.dpop_key = dpop.as_ref().filter(|_| bound).map(DpopKey::export);
        *lock(&self.dpop_key) = dpop.filter(|_| bound);
        state.creds.tokens = Some(tokens);
        self.save(state).await
    }

    /// The DPoP key to bind new tokens to, when DPoP is on and the authorization server supports ES256
    /// proofs: the one already held (so stored tokens and new ones share it), else a fresh one.
    fn dpop_key_for(
        &self,
        state: &FlowState,
        metadata: &AuthorizationServerMetadata,
    ) -> Option<DpopKey> {
        let offered = metadata
            .dpop_signing_alg_values_supported
            .as_ref()
            .is_some_and(|algs| algs.iter().any(|a| a == DPOP_ALG));
        if !self.dpop || !offered {
            return None;
        }
        let held = lock(&self.dpop_key).clone().or_else(|| {
            state
                .creds
                .dpop_key
                .as_deref()
                .and_then(|k| DpopKey::import(k).ok())
        });
        Some(held.unwrap_or_else(DpopKey::generate))
    }

    fn token_endpoint<'a>(
        &'a self,
        d: &'a Discovered,
        client: &'a ClientRegistration,
        dpop: Option<&'a DpopKey>,
    ) -> TokenEndpoint<'a> {
        TokenEndpoint {
            http: &self.http,
            url: &d.metadata.token_endpoint,
            issuer: &d.metadata.issuer,
            client,
            client_key: self
                .pre_registered
                .iter()
                .find(|p| p.client_id == client.client_id)
                .and_then(|p| p.private_key.as_ref()),
            dpop,
            dpop_nonce: &self.as_nonce,
        }
    }

    /// The registration to use with `d`'s issuer, registering if there is none.
    async fn client_for(
        &self,
        state: &mut FlowState,
        d: &Discovered,
    ) -> Result<ClientRegistration, AuthError> {
        let issuer = &d.metadata.issuer;
        let methods = d.metadata.token_endpoint_auth_methods_supported.as_deref();
        if let Some(p) = self
            .pre_registered
            .iter()
            .find(|p| p.issuer.as_deref() == Some(issuer))
        {
            return Ok(pre_registration(p, issuer, methods));
        }
        if let Some(r) = state.creds.registration(issuer) {
            return Ok(r.clone());
        }
        // Unbound pre-registered credentials go to the first issuer only.
        let bound_elsewhere = |p: &PreRegistered| {
            state
                .creds
                .registrations
                .iter()
                .any(|r| r.client_id == p.client_id)
        };
        if let Some(p) = self
            .pre_registered
            .iter()
            .find(|p| p.issuer.is_none() && !bound_elsewhere(p))
        {
            let reg = pre_registration(p, issuer, methods);
            state.creds.set_registration(reg.clone());
            return Ok(reg);
        }
        if !self.grant.interactive() {
            return Err(AuthError::Unsupported(format!(
                "the client credentials and JWT-bearer grants need credentials pre-registered with {issuer}"
            )));
        }
        if let (Some(url), Some(true)) = (
            &self.client_metadata_url,
            d.metadata.client_id_metadata_document_supported,
        ) {
            return Ok(ClientRegistration {
                issuer: issuer.clone(),
                client_id: url.clone(),
                client_secret: None,
                token_endpoint_auth_method: Some("none".into()),
            });
        }
        let Some(endpoint) = d.metadata.registration_endpoint.clone() else {
            return Err(AuthError::Unsupported(format!(
                "{issuer} offers no way to register this client (no pre-registered credentials, no Client ID \
                 Metadata Document support, no registration endpoint)"
            )));
        };
        let reg = self.register(&endpoint, &d.metadata).await?;
        state.creds.set_registration(reg.clone());
        self.save(state).await?;
        Ok(reg)
    }

    /// Dynamic Client Registration (RFC 7591).
    async fn register(
        &self,
        endpoint: &str,
        metadata: &AuthorizationServerMetadata,
    ) -> Result<ClientRegistration, AuthError> {
        let mut grant_types = vec!["authorization_code"];
        if metadata.supports_grant("refresh_token") {
            grant_types.push("refresh_token");
        }
        let mut body = json!({
            "client_name": self.client_name,
            "redirect_uris": [self.authorizer.redirect_uri()],
            "grant_types": grant_types,
            "response_types": ["code"],
            "application_type": self.application_type,
        });
        if let Some(methods) = &metadata.token_endpoint_auth_methods_supported {
            let method = ["none", "client_secret_basic", "client_secret_post"]
                .into_iter()
                .find(|m| methods.iter().any(|x| x == m))
                .ok_or_else(|| {
                    AuthError::Unsupported(format!(
                        "no supported token endpoint authentication method in {methods:?}"
                    ))
                })?;
            body["token_endpoint_auth_method"] = json!(method);
        }
        let resp = self
            .http
            .post(endpoint)
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Network(format!("registration: {e}")))?;
        let status = resp.status();
        let bytes = super::read_auth_body(resp, "registration").await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<super::OAuthErrorResponse>(&bytes)
                .map(|e| e.to_string())
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(AuthError::Registration(detail));
        }
        #[derive(serde::Deserialize)]
        struct Registered {
            client_id: String,
            #[serde(default)]
            client_secret: Option<String>,
            #[serde(default)]
            token_endpoint_auth_method: Option<String>,
        }
        let r: Registered = serde_json::from_slice(&bytes)
            .map_err(|e| AuthError::Registration(format!("unreadable response: {e}")))?;
        tracing::info!(issuer = %metadata.issuer, client_id = %r.client_id, "client registered");
        Ok(ClientRegistration {
            issuer: metadata.issuer.clone(),
            client_id: r.client_id,
            token_endpoint_auth_method: r.token_endpoint_auth_method.or_else(|| {
                body["token_endpoint_auth_method"]
                    .as_str()
                    .map(str::to_owned)
            }),
            client_secret: r.client_secret,
        })
    }

    /// The authorization code flow with PKCE; returns the tokens.
    async fn authorization_code(
        &self,
        d: &Discovered,
        client: &ClientRegistration,
        endpoint: &TokenEndpoint<'_>,
        scopes: &[String],
    ) -> Result<TokenSet, AuthError> {
        let m = &d.metadata;
        if d.from_document
            && !m
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|v| v.iter().any(|x| x == "S256"))
        {
            return Err(AuthError::Unsupported(format!(
                "{} does not list PKCE S256 in code_challenge_methods_supported",
                m.issuer
            )));
        }
        let authorize_at = m.authorization_endpoint.as_deref().ok_or_else(|| {
            AuthError::Unsupported(format!("{} has no authorization endpoint", m.issuer))
        })?;
        let mut url = Url::parse(authorize_at).map_err(|e| {
            AuthError::Metadata(format!("authorization endpoint {authorize_at:?}: {e}"))
        })?;
        let pkce = Pkce::new();
        let state = random_token();
        let redirect_uri = self.authorizer.redirect_uri().to_owned();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("resource", &d.resource);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
        }
        let callback = self.authorizer.authorize(url).await?;
        let params: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
        let one = |name: &str| -> Result<Option<&str>, AuthError> {
            let mut it = params.iter().filter(|(k, _)| k == name);
            let first = it.next().map(|(_, v)| v.as_str());
            if it.next().is_some() {
                return Err(AuthError::Authorization(format!(
                    "the authorization response repeats {name}"
                )));
            }
            Ok(first)
        };
        // RFC 9207: the response must come from the authorization server the request went to. Checked
        // before anything else in the response is believed, errors included.
        match one("iss")? {
            Some(iss) if iss != m.issuer => {
                return Err(AuthError::Authorization(format!(
                    "the authorization response comes from issuer {iss:?}, expected {:?}",
                    m.issuer
                )))
            }
            None if m.authorization_response_iss_parameter_supported == Some(true) => {
                return Err(AuthError::Authorization(
                    "the authorization server promised an iss parameter but the response has none"
                        .into(),
                ))
            }
            _ => {}
        }
        if one("state")? != Some(state.as_str()) {
            return Err(AuthError::Authorization(
                "the authorization response's state does not match".into(),
            ));
        }
        if let Some(error) = one("error")? {
            let desc = one("error_description")?.unwrap_or_default();
            return Err(AuthError::Authorization(
                format!("{error} {desc}").trim().to_owned(),
            ));
        }
        let code = one("code")?
            .ok_or_else(|| {
                AuthError::Authorization("the authorization response has no code".into())
            })?
            .to_owned();
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".into(), code),
            ("redirect_uri".into(), redirect_uri),
            ("code_verifier".into(), pkce.verifier),
            ("resource".into(), d.resource.clone()),
        ];
        let resp = endpoint.request(&form).await.map_err(AuthError::from)?;
        tracing::info!(issuer = %m.issuer, "authorized");
        Ok(resp.into_token_set(&m.issuer, scopes, None))
    }

    /// Refresh the tokens from `issuer` (whose registration is in the store).
    async fn refresh(&self, state: &mut FlowState, issuer: &str) -> Result<(), AuthError> {
        let Some(old) = state.creds.tokens.clone().filter(|t| t.issuer == issuer) else {
            return Err(AuthError::Token("no tokens from that issuer".into()));
        };
        let Some(refresh_token) = old.refresh_token.clone() else {
            return Err(AuthError::Token("no refresh token".into()));
        };
        let client = state
            .creds
            .registration(issuer)
            .cloned()
            .ok_or_else(|| AuthError::Token("no registration for the issuer".into()))?;
        let d = match state
            .discovered
            .clone()
            .filter(|d| d.metadata.issuer == issuer)
        {
            Some(d) => d,
            None => self.discover(state, None).await?,
        };
        if d.metadata.issuer != issuer {
            return Err(AuthError::Token(
                "the resource moved to another issuer".into(),
            ));
        }
        let form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".into(), refresh_token.clone()),
            ("resource".into(), d.resource.clone()),
        ];
        // A DPoP-bound refresh token must be presented with a proof of the same key (RFC 9449 §5).
        let dpop = lock(&self.dpop_key)
            .clone()
            .filter(|_| old.token_type.eq_ignore_ascii_case("DPoP"));
        let endpoint = self.token_endpoint(&d, &client, dpop.as_ref());
        match endpoint.request(&form).await {
            Ok(resp) => {
                state.creds.tokens =
                    Some(resp.into_token_set(issuer, &old.scopes, Some(refresh_token)));
                self.save(state).await?;
                tracing::debug!(issuer, "tokens refreshed");
                Ok(())
            }
            Err(TokenFailure::OAuth { error, .. }) if error.error == "invalid_grant" => {
                // The refresh token is dead: forget it so the next refusal re-authorizes.
                if let Some(t) = state.creds.tokens.as_mut() {
                    t.refresh_token = None;
                }
                self.save(state).await?;
                Err(AuthError::Token(format!("refresh refused: {error}")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn pre_registration(
    p: &PreRegistered,
    issuer: &str,
    methods: Option<&[String]>,
) -> ClientRegistration {
    let method =
        p.token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| match (&p.client_secret, methods) {
                _ if p.private_key.is_some() => "private_key_jwt".into(),
                (None, _) => "none".into(),
                (Some(_), Some(m))
                    if !m.iter().any(|x| x == "client_secret_basic")
                        && m.iter().any(|x| x == "client_secret_post") =>
                {
                    "client_secret_post".into()
                }
                (Some(_), _) => "client_secret_basic".into(),
            });
    ClientRegistration {
        issuer: issuer.to_owned(),
        client_id: p.client_id.clone(),
        client_secret: p.client_secret.clone(),
        token_endpoint_auth_method: Some(method),
    }
}

fn with_scope_and_resource(form: &mut Vec<(String, String)>, scopes: &[String], resource: &str) {
    if !scopes.is_empty() {
        form.push(("scope".into(), scopes.join(" ")));
    }
    form.push(("resource".into(), resource.to_owned()));
}
