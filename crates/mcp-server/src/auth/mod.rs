//! The resource-server half of MCP authorization (OAuth 2.1, notes/spec.md §8): a tower layer that admits
//! only requests bearing a valid access token for this server, and the Protected Resource Metadata document
//! (RFC 9728) that tells clients where to get one.
//!
//! - [`TokenVerifier`] checks a token: [`JwtVerifier`] against a JWKS (fetched, cached, refetched when a key id
//!   is unknown, so key rotation just works), or [`IntrospectionVerifier`] with RFC 7662.
//! - [`BearerAuthLayer`] reads `Authorization: Bearer` (and nowhere else), verifies, checks the audience against
//!   the canonical server URI and the required scopes (for every request, and per tool, resource or prompt:
//!   [`AuthConfig::tool_scopes`], checked at the message level like [`ScopeLayer`]), answers 401/403 with `WWW-Authenticate` naming the
//!   metadata and every scope needed, serves `/.well-known/oauth-protected-resource[/path]`, and hands the
//!   verified [`Principal`](crate::Principal) to handlers (and binds legacy sessions to it).
//!
//! ```
//! use std::sync::Arc;
//! use mcp_server::auth::{AuthConfig, BearerAuthLayer, JwtVerifier};
//! use mcp_server::http::{HttpConfig, McpService};
//!
//! let verifier = JwtVerifier::with_jwks(jsonwebtoken::jwk::JwkSet { keys: vec![] }, "https://mcp.example.com/mcp");
//! let config = AuthConfig::new("https://mcp.example.com/mcp", vec!["https://auth.example.com".into()]);
//! let mcp = McpService::new(mcp_server::Server::builder("s", "1").build(), HttpConfig::default());
//! let service = tower::Layer::layer(&BearerAuthLayer::new(Arc::new(verifier), config), mcp);
//! # let _ = service;
//! ```

mod fetch;
#[cfg(feature = "auth-remote")]
mod introspection;
mod jwt;
mod layer;

use futures::future::BoxFuture;

#[cfg(feature = "auth-remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth-remote")))]
pub use introspection::IntrospectionVerifier;
#[cfg(feature = "auth-remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth-remote")))]
pub use jwt::HttpJwks;
pub use jwt::{JwksSource, JwtVerifier};
pub(crate) use layer::ScopeGuard;
pub use layer::{AuthConfig, BearerAuth, BearerAuthLayer, ScopeCheck, ScopeLayer};

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifiedToken {
    /// Subject (`sub`).
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The client the token was issued to (`client_id` or `azp`).
    pub client_id: Option<String>,
    /// Audiences (`aud`).
    pub audiences: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub expires_at: Option<u64>,
}

/// Why a token was refused (what a [`TokenVerifier`] returns; the auth layer answers 401, or 503 for
/// [`Unavailable`](TokenError::Unavailable)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is malformed, badly signed, unknown or inactive.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The token is for another resource.
    #[error("token audience does not include this server")]
    WrongAudience,
    /// The verifier could not reach its key source or introspection endpoint.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

/// Checks access tokens.
///
/// [`JwtVerifier`] and [`IntrospectionVerifier`] cover OAuth; implement it for opaque tokens your own
/// service issues:
///
/// ```
/// use std::sync::Arc;
/// use futures::future::BoxFuture;
/// use mcp_server::auth::{AuthConfig, BearerAuthLayer, TokenError, TokenVerifier, VerifiedToken};
///
/// struct ApiKeys(std::collections::HashMap<String, String>); // key -> user
///
/// impl TokenVerifier for ApiKeys {
///     fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, TokenError>> {
///         Box::pin(async move {
///             let user = self.0.get(token).ok_or_else(|| TokenError::InvalidToken("unknown key".into()))?;
///             Ok(VerifiedToken {
///                 subject: user.clone(),
///                 scopes: vec!["tools:call".into()],
///                 // The audience check compares with AuthConfig's resource.
///                 audiences: vec!["https://mcp.example.com/mcp".into()],
///                 ..Default::default()
///             })
///         })
///     }
/// }
///
/// let keys = ApiKeys([("k-123".to_string(), "alice".to_string())].into());
/// let config = AuthConfig::new("https://mcp.example.com/mcp", vec!["https://auth.example.com".into()]);
/// let layer = BearerAuthLayer::new(Arc::new(keys), config);
/// # let _ = layer;
/// ```
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verify `token`, returning what it grants.
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, TokenError>>;
}

/// The canonical form of a resource URI for audience comparison (RFC 8707): lowercase scheme and host, no
/// fragment, no trailing slash.
pub fn canonical_resource(uri: &str) -> String {
    let uri = uri.split('#').next().unwrap_or(uri);
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.trim_end_matches('/');
    format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase(),
        path
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonicalizes_resources() {
        assert_eq!(
            super::canonical_resource("HTTPS://MCP.Example.com/mcp/#frag"),
            "https://mcp.example.com/mcp"
        );
        assert_eq!(
            super::canonical_resource("https://mcp.example.com"),
            "https://mcp.example.com"
        );
    }
}
