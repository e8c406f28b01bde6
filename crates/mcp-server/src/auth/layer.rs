//! The bearer-token tower layer, and the Protected Resource Metadata endpoint.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::json;

use super::{canonical_resource, AuthError, TokenVerifier};
use crate::http::McpBody;
use crate::Principal;

/// What the protected server is and what it requires.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The server's canonical URI (the token audience), e.g. `https://mcp.example.com/mcp`.
    pub resource: String,
    /// Issuers of the authorization servers clients may use (at least one).
    pub authorization_servers: Vec<String>,
    /// Scopes every request needs.
    pub required_scopes: Vec<String>,
    /// Scopes advertised in the metadata (defaults to the required ones).
    pub scopes_supported: Vec<String>,
}

impl AuthConfig {
    /// Protect `resource`, trusting tokens from `authorization_servers`.
    pub fn new(resource: impl Into<String>, authorization_servers: Vec<String>) -> Self {
        Self {
            resource: canonical_resource(&resource.into()),
            authorization_servers,
            required_scopes: Vec::new(),
            scopes_supported: Vec::new(),
        }
    }

    /// Require these scopes on every request.
    pub fn required_scopes(mut self, scopes: &[&str]) -> Self {
        self.required_scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The path of the metadata document: `/.well-known/oauth-protected-resource` plus the resource's path.
    pub fn metadata_path(&self) -> String {
        format!(
            "/.well-known/oauth-protected-resource{}",
            resource_path(&self.resource)
        )
    }

    /// The absolute URL of the metadata document (what `resource_metadata` in challenges points to).
    pub fn metadata_url(&self) -> String {
        let path = resource_path(&self.resource);
        let origin = self.resource.strip_suffix(path).unwrap_or(&self.resource);
        format!("{origin}{}", self.metadata_path())
    }

    /// The RFC 9728 metadata document.
    pub fn metadata(&self) -> serde_json::Value {
        let scopes = if self.scopes_supported.is_empty() {
            &self.required_scopes
        } else {
            &self.scopes_supported
        };
        json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })
    }
}

fn resource_path(resource: &str) -> &str {
    let rest = resource.split_once("://").map_or(resource, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

/// Adds bearer-token protection to a service. See the [module docs](super).
#[derive(Clone)]
pub struct BearerAuthLayer {
    verifier: Arc<dyn TokenVerifier>,
    config: Arc<AuthConfig>,
}

impl std::fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// Verify tokens with `verifier` for the server described by `config`.
    pub fn new(verifier: Arc<dyn TokenVerifier>, config: AuthConfig) -> Self {
        Self {
            verifier,
            config: Arc::new(config),
        }
    }
}

impl<S> tower::Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;
    fn layer(&self, inner: S) -> BearerAuth<S> {
        BearerAuth {
            inner,
            verifier: self.verifier.clone(),
            config: self.config.clone(),
        }
    }
}

/// A service behind bearer-token protection.
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    verifier: Arc<dyn TokenVerifier>,
    config: Arc<AuthConfig>,
}

impl<S> std::fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn quote(s: &str) -> String {
    s.replace(['"', '\\'], "")
}

/// A 401 or 403 with the `WWW-Authenticate` challenge the spec asks for.
fn challenge(
    config: &AuthConfig,
    status: StatusCode,
    error: Option<&str>,
    description: &str,
) -> Response<McpBody> {
    let mut value = format!(
        "Bearer resource_metadata=\"{}\"",
        quote(&config.metadata_url())
    );
    if !config.required_scopes.is_empty() {
        value.push_str(&format!(
            ", scope=\"{}\"",
            quote(&config.required_scopes.join(" "))
        ));
    }
    if let Some(e) = error {
        value.push_str(&format!(
            ", error=\"{e}\", error_description=\"{}\"",
            quote(description)
        ));
    }
    let body = json!({"error": error.unwrap_or("unauthorized"), "error_description": description});
    let mut r = Response::new(McpBody::full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn bearer_token<B>(req: &Request<B>) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl<S, B> tower::Service<Request<B>> for BearerAuth<S>
where
    S: tower::Service<Request<B>, Response = Response<McpBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let config = self.config.clone();
        Box::pin(async move {
            let path = req.uri().path();
            if req.method() == Method::GET
                && (path == config.metadata_path()
                    || path == "/.well-known/oauth-protected-resource")
            {
                let mut r = Response::new(McpBody::full(config.metadata().to_string()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return Ok(r);
            }
            let Some(token) = bearer_token(&req) else {
                return Ok(challenge(
                    &config,
                    StatusCode::UNAUTHORIZED,
                    None,
                    "an access token is required",
                ));
            };
            let verified = match verifier.verify(token).await {
                Ok(v) => v,
                Err(AuthError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "token verification unavailable");
                    let mut r = Response::new(McpBody::full("token verification unavailable"));
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    return Ok(r);
                }
                Err(e) => {
                    return Ok(challenge(
                        &config,
                        StatusCode::UNAUTHORIZED,
                        Some("invalid_token"),
                        &e.to_string(),
                    ))
                }
            };
            // Whatever the verifier, the audience must be this server: never accept tokens meant for another.
            if !verified
                .audiences
                .iter()
                .any(|a| canonical_resource(a) == config.resource)
            {
                let msg = AuthError::WrongAudience.to_string();
                return Ok(challenge(
                    &config,
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    &msg,
                ));
            }
            if config
                .required_scopes
                .iter()
                .any(|s| !verified.scopes.contains(s))
            {
                return Ok(challenge(
                    &config,
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    "the token lacks a required scope",
                ));
            }
            req.extensions_mut().insert(Principal {
                subject: verified.subject,
                scopes: verified.scopes,
                client_id: verified.client_id,
            });
            inner.call(req).await
        })
    }
}
