//! [`OAuthClientBuilder`]: registration method, grant, scopes, authorizer, store, DPoP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;

use super::handle::OAuthClient;
use super::inner::{FlowState, Inner};
use crate::auth::assertion::{AssertionSource, ClientKey};
use crate::auth::metadata::canonical_resource;
use crate::auth::redirect::{Authorizer, HeadlessAuthorizer};
use crate::auth::store::TokenStore;
use crate::auth::AuthErrorKind;
use crate::error::Error;

/// Credentials issued out of band (RFC 6749 §2), used before any other registration method.
///
/// ```
/// use mcp_client::auth::{OAuthClient, PreRegistered};
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
///     .pre_registered(PreRegistered {
///         client_id: "desktop-app".into(),
///         issuer: Some("https://auth.example.com".into()),
///         ..Default::default()
///     })
///     .build()
///     .unwrap();
/// # let _ = oauth;
/// ```
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
///
/// Start with [`OAuthClient::builder`]. The defaults suit an interactive program (authorization code with
/// PKCE, dynamic registration, DPoP when offered, `offline_access`); each setter changes one of them:
///
/// ```
/// use mcp_client::auth::{MemoryTokenStore, OAuthClient};
/// let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
///     .client_name("nightly-report")
///     .client_metadata_url("https://agent.example.com/oauth/client.json")
///     .scopes(["tools:call", "resources:read"])
///     .offline_access(false)
///     .dpop(false)
///     .store(MemoryTokenStore::new())
///     .build()
///     .unwrap();
/// # let _ = oauth;
/// ```
pub struct OAuthClientBuilder {
    pub(super) server: String,
    pub(super) client_name: String,
    pub(super) authorizer: Option<Arc<dyn Authorizer>>,
    pub(super) store: Arc<dyn TokenStore>,
    pub(super) http: Option<reqwest::Client>,
    pub(super) pre_registered: Vec<PreRegistered>,
    pub(super) client_metadata_url: Option<String>,
    pub(super) scopes: Option<Vec<String>>,
    pub(super) offline_access: bool,
    pub(super) application_type: Option<String>,
    pub(super) grant: Grant,
    pub(super) dpop: bool,
}

/// How tokens are obtained.
#[derive(Clone)]
pub(super) enum Grant {
    /// A user signs in: the authorization code flow.
    AuthorizationCode,
    /// The client acts on its own behalf (RFC 6749 §4.4).
    ClientCredentials,
    /// An assertion from elsewhere is traded for a token (RFC 7523 §2.1).
    JwtBearer(Arc<dyn AssertionSource>),
}

impl Grant {
    pub(super) fn interactive(&self) -> bool {
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
    /// workload identity token ([`FixedAssertion`](crate::auth::FixedAssertion),
    /// [`FileAssertion`](crate::auth::FileAssertion)) or an enterprise identity provider's ID-JAG
    /// ([`IdJagExchange`](crate::auth::IdJagExchange)). The client authenticates with its pre-registered
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
    pub fn build(self) -> Result<OAuthClient, Error> {
        let server = Url::parse(&self.server).map_err(|e| {
            Error::auth(
                AuthErrorKind::Metadata,
                format!("invalid server URL {:?}: {e}", self.server),
            )
        })?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(Error::auth_network)?,
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

pub(super) fn default_application_type(redirect_uri: &str) -> &'static str {
    match Url::parse(redirect_uri) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => "native",
        Ok(u) if matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")) => "native",
        _ => "web",
    }
}
