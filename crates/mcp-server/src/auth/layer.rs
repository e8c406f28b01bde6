//! The bearer-token tower layer, and the Protected Resource Metadata endpoint.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{ready, Either, Ready};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use mcp_protocol::{error_code, ErrorObject};
use serde_json::{json, Value};

use super::{canonical_resource, TokenError, TokenVerifier};
use crate::http::McpBody;
use crate::middleware::{McpRequest, McpResponse};
use crate::Principal;

/// What the protected server is and what it requires.
///
/// ```
/// use mcp_server::auth::AuthConfig;
///
/// let config = AuthConfig::new("https://mcp.example.com/mcp", vec!["https://auth.example.com".into()])
///     .required_scopes(&["mcp"])
///     .tool_scopes("delete_file", &["files:write"])
///     .resource_scopes("file:///etc/secrets", &["secrets:read"]);
///
/// // A call of `delete_file` needs both; what the 403 challenge and the metadata name.
/// let needed = config.scopes_for("tools/call", Some(&serde_json::json!({"name": "delete_file"})));
/// assert_eq!(needed, ["mcp", "files:write"]);
/// assert_eq!(config.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(config.metadata()["resource"], "https://mcp.example.com/mcp");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The server's canonical URI (the token audience), e.g. `https://mcp.example.com/mcp`.
    pub resource: String,
    /// Issuers of the authorization servers clients may use (at least one).
    pub authorization_servers: Vec<String>,
    /// Scopes every request needs.
    pub required_scopes: Vec<String>,
    /// Scopes advertised in the metadata (defaults to the required ones and every per-item scope).
    pub scopes_supported: Vec<String>,
    /// Scopes a call of one tool needs, by tool name (on top of `required_scopes`).
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    /// Scopes reading (or subscribing to) one resource needs, by URI.
    pub resource_scopes: BTreeMap<String, Vec<String>>,
    /// Scopes getting one prompt needs, by prompt name.
    pub prompt_scopes: BTreeMap<String, Vec<String>>,
}

impl AuthConfig {
    /// Protect `resource`, trusting tokens from `authorization_servers`.
    pub fn new(resource: impl Into<String>, authorization_servers: Vec<String>) -> Self {
        Self {
            resource: canonical_resource(&resource.into()),
            authorization_servers,
            required_scopes: Vec::new(),
            scopes_supported: Vec::new(),
            tool_scopes: BTreeMap::new(),
            resource_scopes: BTreeMap::new(),
            prompt_scopes: BTreeMap::new(),
        }
    }

    /// Require these scopes on every request.
    pub fn required_scopes(mut self, scopes: &[&str]) -> Self {
        self.required_scopes = scopes.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Advertise exactly these scopes in the metadata, instead of the required and per-item ones (what an
    /// empty list advertises).
    pub fn scopes_supported(mut self, scopes: &[&str]) -> Self {
        self.scopes_supported = owned(scopes);
        self
    }

    /// Require `scopes` to call the tool `name` (other tools stay callable without them).
    ///
    /// ```
    /// use mcp_server::auth::AuthConfig;
    /// let config = AuthConfig::new("https://mcp.example.com/mcp", vec!["https://auth.example.com".into()])
    ///     .required_scopes(&["mcp"])
    ///     .tool_scopes("delete_file", &["files:write"])
    ///     .resource_scopes("file:///etc/secrets", &["secrets:read"])
    ///     .prompt_scopes("admin_report", &["admin"]);
    /// let call = serde_json::json!({"name": "delete_file", "arguments": {}});
    /// assert_eq!(config.scopes_for("tools/call", Some(&call)), ["mcp", "files:write"]);
    /// assert_eq!(config.scopes_for("tools/list", None), ["mcp"]);
    /// assert_eq!(
    ///     config.metadata()["scopes_supported"],
    ///     serde_json::json!(["mcp", "files:write", "secrets:read", "admin"])
    /// );
    /// ```
    pub fn tool_scopes(mut self, name: impl Into<String>, scopes: &[&str]) -> Self {
        self.tool_scopes.insert(name.into(), owned(scopes));
        self
    }

    /// Require `scopes` to read or subscribe to the resource `uri`.
    pub fn resource_scopes(mut self, uri: impl Into<String>, scopes: &[&str]) -> Self {
        self.resource_scopes.insert(uri.into(), owned(scopes));
        self
    }

    /// Require `scopes` to get the prompt `name`.
    pub fn prompt_scopes(mut self, name: impl Into<String>, scopes: &[&str]) -> Self {
        self.prompt_scopes.insert(name.into(), owned(scopes));
        self
    }

    /// Every scope a request with this method and params needs: the ones every request needs, then the
    /// item's own (tool, resource or prompt).
    pub fn scopes_for(&self, method: &str, params: Option<&Value>) -> Vec<String> {
        let field = |name: &str| params.and_then(|p| p.get(name)).and_then(Value::as_str);
        let item = match method {
            "tools/call" => field("name").and_then(|n| self.tool_scopes.get(n)),
            "resources/read" | "resources/subscribe" => {
                field("uri").and_then(|u| self.resource_scopes.get(u))
            }
            "prompts/get" => field("name").and_then(|n| self.prompt_scopes.get(n)),
            _ => None,
        };
        let mut all = self.required_scopes.clone();
        for s in item.into_iter().flatten() {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        all
    }

    fn has_item_scopes(&self) -> bool {
        !(self.tool_scopes.is_empty()
            && self.resource_scopes.is_empty()
            && self.prompt_scopes.is_empty())
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
        let mut scopes = self.scopes_supported.clone();
        if scopes.is_empty() {
            let items = self
                .tool_scopes
                .values()
                .chain(self.resource_scopes.values())
                .chain(self.prompt_scopes.values());
            for s in self.required_scopes.iter().chain(items.flatten()) {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
        }
        json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })
    }
}

fn owned(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| s.to_string()).collect()
}

/// Put in a request's extensions by [`BearerAuth`] when scopes depend on the tool, resource or prompt. The
/// HTTP endpoint does not look inside: it hands the guard to the server with each message, and the server
/// checks it (as [`ScopeLayer`] does) before the request's layers and handler run.
#[derive(Clone)]
pub(crate) struct ScopeGuard {
    config: Arc<AuthConfig>,
}

impl ScopeGuard {
    /// The refusal to answer if `principal` lacks a scope this message needs.
    pub(crate) fn refuse(
        &self,
        method: &str,
        params: Option<&Value>,
        principal: Option<&Principal>,
    ) -> Option<McpResponse> {
        refuse(&self.config, method, params, principal)
    }

    /// The 2024-11-05 HTTP+SSE transport, whose messages go to a connection that does not know the POST's
    /// caller: the 403 to answer the POST with if a message (or one of a batch) needs a scope the caller
    /// lacks.
    pub(crate) fn refuse_value(
        &self,
        value: &Value,
        principal: Option<&Principal>,
    ) -> Option<Response<McpBody>> {
        match value {
            Value::Array(batch) => batch.iter().find_map(|m| self.refuse_value(m, principal)),
            Value::Object(m) => {
                let method = m.get("method").and_then(Value::as_str)?;
                let needed = missing(&self.config, method, m.get("params"), principal)?;
                Some(challenge(
                    &self.config,
                    StatusCode::FORBIDDEN,
                    Some("insufficient_scope"),
                    SCOPE_DESCRIPTION,
                    &needed,
                ))
            }
            _ => None,
        }
    }
}

const SCOPE_DESCRIPTION: &str = "the token lacks a scope this request needs";

/// Every scope the request needs, if the caller lacks one of them.
fn missing(
    config: &AuthConfig,
    method: &str,
    params: Option<&Value>,
    principal: Option<&Principal>,
) -> Option<Vec<String>> {
    let granted = principal.map(|p| p.scopes.as_slice()).unwrap_or_default();
    let needed = config.scopes_for(method, params);
    if needed.iter().all(|s| granted.contains(s)) {
        return None;
    }
    Some(needed)
}

/// The scope check of [`ScopeLayer`] and of [`BearerAuth`]'s per-item scopes: a JSON-RPC error naming the
/// scopes needed, which HTTP sends as `403` with the `insufficient_scope` challenge clients step up on.
fn refuse(
    config: &AuthConfig,
    method: &str,
    params: Option<&Value>,
    principal: Option<&Principal>,
) -> Option<McpResponse> {
    let needed = missing(config, method, params, principal)?;
    let scope = needed.join(" ");
    tracing::debug!(method, needed = %scope, "insufficient scope");
    let e = ErrorObject::new(
        error_code::SERVER_ERROR,
        format!(
            "Forbidden: insufficient_scope: {method} needs the scopes \"{scope}\"; get a token that grants them"
        ),
    )
    .with_data(json!({"error": "insufficient_scope", "scope": scope}));
    Some(
        McpResponse::error(e)
            .with_http_status(StatusCode::FORBIDDEN.as_u16())
            .with_http_header(
                header::WWW_AUTHENTICATE.as_str(),
                challenge_value(
                    config,
                    Some("insufficient_scope"),
                    SCOPE_DESCRIPTION,
                    &needed,
                ),
            ),
    )
}

/// Per-tool, per-resource and per-prompt scopes as a message-level layer (see [`crate::middleware`]): a
/// request whose [`Principal`] lacks a scope [`AuthConfig::scopes_for`] names is refused before it runs,
/// with a JSON-RPC error naming the scopes; over HTTP as `403` with a `WWW-Authenticate: Bearer
/// error="insufficient_scope", scope="…"` challenge. A request without a principal has no scopes.
///
/// [`BearerAuthLayer`] already applies the per-item scopes of its own [`AuthConfig`] this way, so an HTTP
/// server behind it needs no `ScopeLayer`. Add one for scopes that a server should enforce whatever the
/// transport or outer auth, e.g. when principals come from your own HTTP layer.
///
/// ```
/// use mcp_server::auth::{AuthConfig, ScopeLayer};
/// use mcp_server::Server;
///
/// let scopes = AuthConfig::new("https://mcp.example.com/mcp", vec!["https://auth.example.com".into()])
///     .tool_scopes("delete_file", &["files:write"]);
/// let server = Server::builder("files", "1.0.0").layer(ScopeLayer::new(scopes)).build();
/// # let _ = server;
/// ```
#[derive(Debug, Clone)]
pub struct ScopeLayer {
    config: Arc<AuthConfig>,
}

impl ScopeLayer {
    /// Check the scopes `config` asks for ([`AuthConfig::required_scopes`] and the per-item ones).
    pub fn new(config: AuthConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> tower::Layer<S> for ScopeLayer {
    type Service = ScopeCheck<S>;
    fn layer(&self, inner: S) -> ScopeCheck<S> {
        ScopeCheck {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`ScopeLayer`].
#[derive(Debug, Clone)]
pub struct ScopeCheck<S> {
    inner: S,
    config: Arc<AuthConfig>,
}

impl<S> tower::Service<McpRequest> for ScopeCheck<S>
where
    S: tower::Service<McpRequest, Response = McpResponse>,
{
    type Response = McpResponse;
    type Error = S::Error;
    type Future = Either<Ready<Result<McpResponse, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        match refuse(&self.config, req.method(), req.params(), req.principal()) {
            Some(refusal) => Either::Left(ready(Ok(refusal))),
            None => Either::Right(self.inner.call(req)),
        }
    }
}

fn resource_path(resource: &str) -> &str {
    let rest = resource.split_once("://").map_or(resource, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

/// Adds bearer-token protection to a service. See the [module docs](super).
///
/// A request without a token is answered 401, with a challenge naming the metadata document:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use tower::{Layer, ServiceExt};
/// use mcp_server::auth::{AuthConfig, BearerAuthLayer, JwtVerifier};
/// use mcp_server::http::{HttpConfig, McpService};
///
/// let verifier = JwtVerifier::with_jwks(jsonwebtoken::jwk::JwkSet { keys: vec![] }, "http://localhost/mcp");
/// let config = AuthConfig::new("http://localhost/mcp", vec!["https://auth.example.com".into()]);
/// let mcp = McpService::new(mcp_server::Server::builder("s", "1").build(), HttpConfig::default());
/// let protected = BearerAuthLayer::new(Arc::new(verifier), config).layer(mcp);
///
/// let request = http::Request::post("/mcp")
///     .header("host", "localhost")
///     .header("content-type", "application/json")
///     .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
///     .unwrap();
/// let response = protected.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 401);
/// let challenge = response.headers()["www-authenticate"].to_str().unwrap();
/// assert!(challenge.contains("resource_metadata="));
/// # }
/// ```
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

/// The `WWW-Authenticate` value of a challenge.
fn challenge_value(
    config: &AuthConfig,
    error: Option<&str>,
    description: &str,
    scopes: &[String],
) -> String {
    let mut value = format!(
        "Bearer resource_metadata=\"{}\"",
        quote(&config.metadata_url())
    );
    if !scopes.is_empty() {
        value.push_str(&format!(", scope=\"{}\"", quote(&scopes.join(" "))));
    }
    if let Some(e) = error {
        value.push_str(&format!(
            ", error=\"{e}\", error_description=\"{}\"",
            quote(description)
        ));
    }
    value
}

/// A 401 or 403 with the `WWW-Authenticate` challenge the spec asks for.
fn challenge(
    config: &AuthConfig,
    status: StatusCode,
    error: Option<&str>,
    description: &str,
    scopes: &[String],
) -> Response<McpBody> {
    let value = challenge_value(config, error, description, scopes);
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
                    &config.required_scopes,
                ));
            };
            let verified = match verifier.verify(token).await {
                Ok(v) => v,
                Err(TokenError::Unavailable(e)) => {
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
                        &config.required_scopes,
                    ))
                }
            };
            // Whatever the verifier, the audience must be this server: never accept tokens meant for another.
            if !verified
                .audiences
                .iter()
                .any(|a| canonical_resource(a) == config.resource)
            {
                let msg = TokenError::WrongAudience.to_string();
                return Ok(challenge(
                    &config,
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    &msg,
                    &config.required_scopes,
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
                    &config.required_scopes,
                ));
            }
            if config.has_item_scopes() {
                req.extensions_mut().insert(ScopeGuard {
                    config: config.clone(),
                });
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
