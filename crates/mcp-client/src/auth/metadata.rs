//! Discovery: Protected Resource Metadata (RFC 9728) and authorization server metadata (RFC 8414 and OpenID
//! Connect Discovery), in the order the MCP authorization spec gives, with the 2025-03-26 fallbacks.

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::error::{AuthErrorKind, Error};

/// The Protected Resource Metadata document of an MCP server (RFC 9728).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (the canonical server URI).
    pub resource: String,
    /// Issuer identifiers of the authorization servers that protect it.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
}

/// Authorization server metadata (RFC 8414 / OpenID Connect Discovery); unknown fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The dynamic client registration endpoint (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Scopes the server supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Grant types the server supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<String>>,
    /// PKCE methods the server supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Whether the server sends `iss` in authorization responses (RFC 9207).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Whether the server accepts Client ID Metadata Document URLs as client ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// DPoP proof algorithms the server accepts (RFC 9449 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AuthorizationServerMetadata {
    /// Whether `scope` is listed in `scopes_supported`.
    pub fn supports_scope(&self, scope: &str) -> bool {
        self.scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == scope))
    }

    /// Whether `grant` is listed in `grant_types_supported` (absent means the RFC 8414 default:
    /// `authorization_code` and `implicit`).
    pub fn supports_grant(&self, grant: &str) -> bool {
        match &self.grant_types_supported {
            Some(g) => g.iter().any(|x| x == grant),
            None => matches!(grant, "authorization_code" | "implicit"),
        }
    }

    /// The 2025-03-26 fallback when a server publishes no metadata: `/authorize`, `/token` and `/register`
    /// at the root of `origin`.
    pub fn fallback(origin: &Url) -> Self {
        let at = |p: &str| origin.join(p).map(|u| u.to_string()).unwrap_or_default();
        Self {
            issuer: origin_string(origin),
            authorization_endpoint: Some(at("/authorize")),
            token_endpoint: at("/token"),
            registration_endpoint: Some(at("/register")),
            ..Default::default()
        }
    }
}

/// `scheme://host[:port]` of a URL, without a trailing slash.
pub(crate) fn origin_string(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The canonical URI of an MCP server (RFC 8707 §2 as the MCP spec applies it): lowercase scheme and host,
/// no fragment, no query, no trailing slash.
pub fn canonical_resource(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    u.set_query(None);
    let s = u.to_string();
    match s.strip_suffix('/') {
        Some(t) => t.to_owned(),
        None => s,
    }
}

/// Where to look for the server's PRM, in order: the challenge's `resource_metadata`, then the path-based
/// well-known URL, then the root one.
pub fn prm_candidates(server: &Url, hint: Option<&str>) -> Vec<Url> {
    let mut out = Vec::new();
    if let Some(h) = hint.and_then(|h| server.join(h).ok()) {
        out.push(h);
    }
    let path = server.path().trim_end_matches('/');
    if !path.is_empty() {
        if let Ok(u) = server.join(&format!("/.well-known/oauth-protected-resource{path}")) {
            out.push(u);
        }
    }
    if let Ok(u) = server.join("/.well-known/oauth-protected-resource") {
        out.push(u);
    }
    out.dedup();
    out
}

/// Where to look for an issuer's metadata, in the spec's order (RFC 8414 path insertion first, then OpenID
/// Connect with path insertion, then OpenID Connect with the path appended).
pub fn as_metadata_candidates(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |p: String| issuer.join(&p).ok();
    let list = if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    };
    list.into_iter().flatten().collect()
}

/// Whether a PRM `resource` may stand for the server at `server`: same origin, and its path equal to or a
/// segment prefix of the server's path (a server at `/mcp` may be described by a resource at the origin).
pub fn resource_matches(resource: &str, server: &Url) -> bool {
    let Ok(r) = Url::parse(resource) else {
        return false;
    };
    if r.origin() != server.origin() || r.fragment().is_some() {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let sp = server.path().trim_end_matches('/');
    sp == rp || sp.starts_with(&format!("{rp}/"))
}

/// Fetch a JSON document; `Ok(None)` when the server says it does not exist (4xx) or it is not JSON of that
/// shape; network failures are errors.
pub(crate) async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> Result<Option<T>, Error> {
    let resp = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            Error::auth(AuthErrorKind::Network, format!("GET {url}: {e}")).with_source(e)
        })?;
    let status = resp.status();
    if status.is_client_error() || status == StatusCode::NOT_IMPLEMENTED {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(Error::auth(
            AuthErrorKind::Network,
            format!("GET {url}: HTTP {status}"),
        ));
    }
    let bytes = super::read_auth_body(resp, &format!("GET {url}")).await?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            tracing::debug!(%url, error = %e, "metadata document does not parse; skipping it");
            Ok(None)
        }
    }
}

/// Find the server's PRM. `Ok(None)` when there is none (a 2025-03-26 server). A document whose `resource`
/// does not stand for this server is an error: the client must not go on (it could be sent to another
/// resource's authorization server).
pub async fn discover_resource(
    http: &reqwest::Client,
    server: &Url,
    hint: Option<&str>,
) -> Result<Option<ProtectedResourceMetadata>, Error> {
    for url in prm_candidates(server, hint) {
        if let Some(prm) = fetch_json::<ProtectedResourceMetadata>(http, &url).await? {
            if !resource_matches(&prm.resource, server) {
                return Err(Error::auth(
                    AuthErrorKind::ResourceMismatch,
                    format!(
                        "protected resource metadata is for {:?}, not {:?}",
                        prm.resource,
                        canonical_resource(server)
                    ),
                ));
            }
            tracing::debug!(%url, "protected resource metadata found");
            return Ok(Some(prm));
        }
    }
    Ok(None)
}

/// Find an issuer's metadata. The document's `issuer` must equal the issuer it was looked up for (RFC 8414
/// §3.3); one that does not is discarded. `Ok(None)` when no candidate has a valid document.
pub async fn discover_authorization_server(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<Option<AuthorizationServerMetadata>, Error> {
    let url = Url::parse(issuer).map_err(|e| {
        Error::auth(
            AuthErrorKind::Metadata,
            format!("invalid issuer {issuer:?}: {e}"),
        )
    })?;
    let mut mismatch = None;
    for candidate in as_metadata_candidates(&url) {
        if let Some(meta) = fetch_json::<AuthorizationServerMetadata>(http, &candidate).await? {
            if meta.issuer != issuer {
                tracing::warn!(expected = issuer, found = %meta.issuer, url = %candidate,
                    "authorization server metadata names another issuer; discarded");
                mismatch = Some(meta.issuer);
                continue;
            }
            return Ok(Some(meta));
        }
    }
    match mismatch {
        Some(found) => Err(Error::auth(
            AuthErrorKind::IssuerMismatch,
            format!("authorization server metadata names issuer {found:?}, expected {issuer:?}"),
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_endless_metadata_document_is_refused_at_the_cap() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = sock.read(&mut head).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"x\": \"")
                .await;
            let chunk = vec![b'a'; 64 * 1024];
            // At most 256 MiB, and only as fast as the client reads.
            while counter.load(Ordering::SeqCst) < 256 << 20 {
                if sock.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        });
        let url = u(&format!(
            "http://{addr}/.well-known/oauth-protected-resource"
        ));
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            fetch_json::<serde_json::Value>(&reqwest::Client::new(), &url),
        )
        .await
        .expect("the client kept reading an endless document");
        assert!(
            matches!(&r, Err(e) if e.auth_kind() == Some(AuthErrorKind::Network) && e.to_string().contains("larger than 1048576 bytes")),
            "{r:?}"
        );
        let n = sent.load(Ordering::SeqCst);
        assert!(n < 32 << 20, "{n} bytes read");
    }

    #[test]
    fn prm_order_is_hint_then_path_then_root() {
        let c = prm_candidates(&u("http://localhost:3000/mcp"), Some("/custom/x.json"));
        let c: Vec<_> = c.iter().map(Url::as_str).collect();
        assert_eq!(
            c,
            [
                "http://localhost:3000/custom/x.json",
                "http://localhost:3000/.well-known/oauth-protected-resource/mcp",
                "http://localhost:3000/.well-known/oauth-protected-resource",
            ]
        );
        let root = prm_candidates(&u("http://h/"), None);
        assert_eq!(root.len(), 1);
    }

    #[test]
    fn as_metadata_order_with_and_without_path() {
        let c: Vec<_> = as_metadata_candidates(&u("https://as.example/tenant1"))
            .iter()
            .map(|u| u.path().to_owned())
            .collect();
        assert_eq!(
            c,
            [
                "/.well-known/oauth-authorization-server/tenant1",
                "/.well-known/openid-configuration/tenant1",
                "/tenant1/.well-known/openid-configuration",
            ]
        );
        let c: Vec<_> = as_metadata_candidates(&u("https://as.example"))
            .iter()
            .map(|u| u.path().to_owned())
            .collect();
        assert_eq!(
            c,
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn resource_matching() {
        let s = u("http://localhost:3000/mcp");
        assert!(resource_matches("http://localhost:3000/mcp", &s));
        assert!(resource_matches("http://localhost:3000", &s));
        assert!(resource_matches("http://LOCALHOST:3000/mcp/", &s));
        assert!(!resource_matches("https://evil.example.com/mcp", &s));
        assert!(!resource_matches("http://localhost:3001/mcp", &s));
        assert!(!resource_matches("http://localhost:3000/mc", &s));
        assert!(!resource_matches("http://localhost:3000/mcp/other", &s));
        assert!(!resource_matches("not a url", &s));
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canonical_resource(&u("HTTP://Example.COM/mcp/#frag")),
            "http://example.com/mcp"
        );
        assert_eq!(
            canonical_resource(&u("https://example.com")),
            "https://example.com"
        );
        assert_eq!(
            canonical_resource(&u("https://example.com:8443/a?b=c")),
            "https://example.com:8443/a"
        );
    }
}
