//! OAuth 2.1 authorization for the HTTP transport (MCP authorization spec, 2025-03-26 … 2026-07-28).
//!
//! [`OAuthClient`] is an [`AuthProvider`]: give it to
//! [`HttpTransportBuilder::auth`](crate::transport::HttpTransportBuilder::auth) and the transport adds the
//! `Authorization` header to every request, and hands every 401 and 403 back to it. On a challenge it:
//!
//! 1. finds the server's Protected Resource Metadata (the challenge's `resource_metadata`, then the
//!    path-based well-known URL, then the root one) and checks that it describes this server; a server with
//!    none is a 2025-03-26 server, whose authorization server is at its origin;
//! 2. finds the authorization server's metadata (RFC 8414, then OpenID Connect, with path insertion), whose
//!    `issuer` must be the one it was looked up for; with no metadata, the 2025-03-26 default endpoints;
//! 3. gets a client id for that issuer: pre-registered credentials, else a Client ID Metadata Document URL
//!    when the server supports them, else Dynamic Client Registration. Credentials are kept per issuer and
//!    never shown to another one; when the resource moves to a new authorization server the client registers
//!    again;
//! 4. runs the authorization code flow with PKCE (S256; refused if the server does not list it), `state`,
//!    the RFC 8707 `resource` in both requests and the RFC 9207 `iss` checks, authenticating at the token
//!    endpoint the way the registration says (`none`, `client_secret_basic`, `client_secret_post`);
//! 5. asks for the challenge's scopes, else the resource's `scopes_supported`, else none, plus
//!    `offline_access` when the authorization server offers it; on 403 `insufficient_scope` it re-authorizes
//!    with the union of what it had and what the server asks (a bounded number of times per request).
//!
//! Tokens are refreshed before they expire (one refresh at a time, however many requests need it) and kept
//! in a [`TokenStore`] ([`MemoryTokenStore`] by default, [`FileTokenStore`] for programs that should not
//! ask the user to sign in on every run). How the user is sent to the authorization server is an
//! [`Authorizer`]: [`LoopbackAuthorizer`] for command-line programs, [`HeadlessAuthorizer`] for servers that
//! approve without a user.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_client::auth::{FileTokenStore, LoopbackAuthorizer, OAuthClient};
//! use mcp_client::transport::HttpTransport;
//!
//! let authorizer = LoopbackAuthorizer::bind(0, |url| eprintln!("Sign in: {url}")).await?;
//! let oauth = OAuthClient::builder("https://mcp.example.com/mcp")
//!     .client_name("my-agent")
//!     .authorizer(authorizer)
//!     .store(FileTokenStore::new("tokens.json"))
//!     .build()?;
//! let transport = HttpTransport::builder("https://mcp.example.com/mcp").auth(oauth).build()?;
//! let client = mcp_client::Client::builder().connect(transport).await?;
//! # let _ = client; Ok(()) }
//! ```

// The OAuth client itself stays native: its authorizers are a loopback redirect server and a headless GET
// that reads a redirect's `Location`, and neither exists under fetch (no sockets; redirects are followed or
// opaque). On wasm32 the transport still takes any `AuthProvider` or bearer `TokenProvider`.
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod assertion;
mod challenge;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod dpop;
#[cfg(feature = "oauth")]
mod metadata;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod oauth;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod pkce;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod redirect;
#[cfg(feature = "oauth")]
mod store;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
mod token;

use futures::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::error::Error;

#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use assertion::{
    AssertionRequest, AssertionSource, ClientKey, FileAssertion, FixedAssertion, IdJagExchange,
};
pub use challenge::{parse_challenges, Challenge};
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use metadata::{
    canonical_resource, discover_authorization_server, discover_resource,
    AuthorizationServerMetadata, ProtectedResourceMetadata,
};
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use oauth::{OAuthClient, OAuthClientBuilder, PreRegistered};
#[cfg(all(feature = "oauth-loopback", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth-loopback")))]
pub use redirect::LoopbackAuthorizer;
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use redirect::{Authorizer, HeadlessAuthorizer};
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use store::FileTokenStore;
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use store::{ClientRegistration, MemoryTokenStore, StoredCredentials, TokenSet, TokenStore};
#[cfg(all(feature = "oauth", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use token::OAuthErrorResponse;

pub use crate::error::AuthErrorKind;

/// What the transport tells an [`AuthProvider`] when the server refused a request.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// 401 or 403.
    pub status: u16,
    /// The challenges of the `WWW-Authenticate` headers.
    pub challenges: Vec<Challenge>,
    /// The `DPoP-Nonce` response header, if any.
    pub dpop_nonce: Option<String>,
    /// The URL of the refused request.
    pub url: Url,
    /// The access token the refused request carried, if any.
    pub access_token: Option<String>,
    /// How many times the transport already retried this request after a refusal.
    pub attempt: u32,
}

/// Decides the credentials of every HTTP request, and what to do when the server refuses them.
///
/// [`OAuthClient`] is the provider for OAuth servers; implement it for any other scheme, e.g. a signed
/// header that is renewed once when the server refuses it:
///
/// ```
/// use std::sync::Mutex;
/// use futures::future::BoxFuture;
/// use mcp_client::auth::{AuthErrorKind, AuthProvider, Refusal};
/// use mcp_client::transport::HttpTransport;
/// use mcp_client::Error;
/// use reqwest::header::{HeaderName, HeaderValue};
/// use reqwest::{Method, Url};
///
/// struct ApiKey { key: Mutex<String> }
///
/// impl AuthProvider for ApiKey {
///     fn headers<'a>(&'a self, _: &'a Method, _: &'a Url)
///         -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, Error>> {
///         let key = self.key.lock().unwrap().clone();
///         Box::pin(async move {
///             let value = HeaderValue::from_str(&key).map_err(|e| Error::from_auth(AuthErrorKind::Token, e))?;
///             Ok(vec![(HeaderName::from_static("x-api-key"), value)])
///         })
///     }
///     fn refused<'a>(&'a self, refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, Error>> {
///         Box::pin(async move {
///             if refusal.attempt > 0 { return Ok(false); } // renewed once already: give up
///             *self.key.lock().unwrap() = "renewed-key".into();
///             Ok(true)
///         })
///     }
/// }
///
/// let transport = HttpTransport::builder("https://mcp.example.com/mcp")
///     .auth(ApiKey { key: Mutex::new("first-key".into()) })
///     .build();
/// # let _ = transport;
/// ```
pub trait AuthProvider: Send + Sync + 'static {
    /// Headers for a request (`Authorization`, and `DPoP` for sender-constrained tokens). May refresh
    /// tokens; an empty list sends the request unauthenticated.
    fn headers<'a>(
        &'a self,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, Error>>;

    /// The server answered 401 or 403. `Ok(true)`: new credentials are ready, send the request again;
    /// `Ok(false)`: give up and surface the refusal.
    fn refused<'a>(&'a self, refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, Error>>;
}

/// A shared provider (so the caller can keep a handle to it).
impl<T: AuthProvider> AuthProvider for std::sync::Arc<T> {
    fn headers<'a>(
        &'a self,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, Error>> {
        (**self).headers(method, url)
    }

    fn refused<'a>(&'a self, refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, Error>> {
        (**self).refused(refusal)
    }
}

/// Any [`TokenProvider`](crate::transport::TokenProvider) is a provider that never re-authorizes.
pub(crate) struct BearerOnly(pub std::sync::Arc<dyn crate::transport::TokenProvider>);

impl AuthProvider for BearerOnly {
    fn headers<'a>(
        &'a self,
        _method: &'a Method,
        _url: &'a Url,
    ) -> BoxFuture<'a, Result<Vec<(HeaderName, HeaderValue)>, Error>> {
        Box::pin(async move {
            Ok(match self.0.token().await {
                Some(t) => vec![(reqwest::header::AUTHORIZATION, bearer_value("Bearer", &t)?)],
                None => Vec::new(),
            })
        })
    }

    fn refused<'a>(&'a self, _refusal: &'a Refusal) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async { Ok(false) })
    }
}

/// Add the provider's headers to a request; returns the request and the access token it carries. The
/// token's digest becomes `auth_key` (results cached per principal are keyed by it).
pub(crate) async fn apply_headers(
    provider: Option<&std::sync::Arc<dyn AuthProvider>>,
    auth_key: &std::sync::Mutex<Option<String>>,
    method: &Method,
    url: &Url,
    mut rb: reqwest::RequestBuilder,
) -> Result<(reqwest::RequestBuilder, Option<String>), Error> {
    let Some(provider) = provider else {
        return Ok((rb, None));
    };
    let headers = provider
        .headers(method, url)
        .await
        .map_err(|e| Error::unauthorized(e.to_string()).with_source(e))?;
    let mut token = None;
    for (name, value) in headers {
        if name == reqwest::header::AUTHORIZATION {
            token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .map(|(_, t)| t.trim().to_owned());
        }
        rb = rb.header(name, value);
    }
    let key = token.as_ref().map(|t| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(t.as_bytes());
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    *auth_key.lock().unwrap_or_else(|p| p.into_inner()) = key;
    Ok((rb, token))
}

/// If `resp` is a 401 or 403 and there is a provider, ask it what to do: `Ok(true)` means send the request
/// again.
pub(crate) async fn retry_after_refusal(
    provider: Option<&std::sync::Arc<dyn AuthProvider>>,
    resp: &reqwest::Response,
    access_token: Option<String>,
    attempt: u32,
) -> Result<bool, Error> {
    let status = resp.status().as_u16();
    let Some(provider) = provider.filter(|_| status == 401 || status == 403) else {
        return Ok(false);
    };
    let refusal = Refusal {
        status,
        challenges: parse_challenges(
            resp.headers()
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        ),
        dpop_nonce: resp
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        url: resp.url().clone(),
        access_token,
        attempt,
    };
    tracing::debug!(status, attempt, "request refused; asking the auth provider");
    provider
        .refused(&refusal)
        .await
        .map_err(|e| Error::unauthorized(e.to_string()).with_source(e))
}

/// `"<scheme> <token>"` as a sensitive header value.
pub(crate) fn bearer_value(scheme: &str, token: &str) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(&format!("{scheme} {token}")).map_err(|_| {
        Error::auth(
            AuthErrorKind::Token,
            "the access token is not a valid header value".into(),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Most bytes read of a metadata document or a registration or token response (1 MiB; real ones are a few
/// KiB): an authorization server cannot make the client buffer without end.
#[cfg(feature = "oauth")]
pub(crate) const MAX_AUTH_RESPONSE: usize = 1024 * 1024;

/// The body of an authorization response, at most [`MAX_AUTH_RESPONSE`] bytes; a longer one is an error.
#[cfg(feature = "oauth")]
pub(crate) async fn read_auth_body(
    resp: reqwest::Response,
    what: &str,
) -> Result<bytes::Bytes, Error> {
    let body = crate::transport::read_capped(resp, MAX_AUTH_RESPONSE)
        .await
        .map_err(|e| Error::auth(AuthErrorKind::Network, format!("{what}: {e}")).with_source(e))?;
    if body.truncated {
        return Err(Error::auth(
            AuthErrorKind::Network,
            format!("{what}: the response is larger than {MAX_AUTH_RESPONSE} bytes"),
        ));
    }
    Ok(body.bytes)
}
