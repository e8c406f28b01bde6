//! End to end: our OAuth client gets tokens from a small but real authorization server (metadata, dynamic
//! registration, authorization code with PKCE, refresh token rotation, RS256 JWTs and a JWKS) and calls
//! tools on our MCP server, which verifies those tokens with `BearerAuthLayer` + `JwtVerifier` over the
//! authorization server's JWKS URL. Single-flight authorization, refresh, token storage and step-up are
//! checked by what the authorization server counted.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{json, with_header, Body, Seen, TestHttp};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_client::auth::{FileTokenStore, OAuthClient};
use mcp_client::transport::HttpTransport;
use mcp_client::{Client, VersionMode};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_server::auth::{AuthConfig, BearerAuthLayer, HttpJwks, JwtVerifier};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use sha2::Digest;

const SIGNING_KEY: &str = include_str!("../../../mcp-server/tests/it/keys/test-key-a.pem");
const JWKS: &str = include_str!("../../../mcp-server/tests/it/keys/test-jwks.json");

// ----- the authorization server ------------------------------------------------------------------------

struct Grant {
    client_id: String,
    scope: String,
    resource: String,
}

struct Pending {
    grant: Grant,
    redirect_uri: String,
    challenge: String,
}

/// A small OAuth 2.1 authorization server that auto-approves every authorization request (the user always
/// says yes) and checks everything else the way a strict one does.
#[derive(Default)]
struct AuthServer {
    base: OnceLock<String>,
    /// Lifetime of access tokens.
    token_secs: AtomicU64,
    clients: Mutex<HashMap<String, Vec<String>>>,
    codes: Mutex<HashMap<String, Pending>>,
    refresh_tokens: Mutex<HashMap<String, Grant>>,
    next: AtomicUsize,
    registrations: AtomicUsize,
    code_exchanges: AtomicUsize,
    refreshes: AtomicUsize,
}

fn oauth_error(status: u16, error: &str) -> http::Response<Body> {
    json(status, &json!({"error": error}))
}

impl AuthServer {
    async fn start(token_secs: u64) -> (Arc<AuthServer>, TestHttp) {
        let state = Arc::new(AuthServer::default());
        state.token_secs.store(token_secs, Ordering::Relaxed);
        let s = state.clone();
        let http = TestHttp::start(move |req: Seen| {
            let s = s.clone();
            async move { s.handle(&req) }
        })
        .await;
        let base = http.url.trim_end_matches("/mcp").to_owned();
        state.base.set(base).unwrap();
        (state, http)
    }

    fn base(&self) -> &str {
        self.base.get().unwrap()
    }

    fn fresh(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn handle(&self, req: &Seen) -> http::Response<Body> {
        let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
        let base = self.base();
        match (req.method.as_str(), path) {
            ("GET", "/.well-known/oauth-authorization-server") => json(
                200,
                &json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "registration_endpoint": format!("{base}/register"),
                    "jwks_uri": format!("{base}/jwks"),
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "scopes_supported": ["mcp:tools", "admin", "offline_access"],
                    "authorization_response_iss_parameter_supported": true,
                }),
            ),
            ("GET", "/jwks") => {
                let all: Value = serde_json::from_str(JWKS).unwrap();
                json(200, &json!({"keys": [all["a"]]}))
            }
            ("POST", "/register") => {
                let uris: Vec<String> = req.body["redirect_uris"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if uris.is_empty() {
                    return oauth_error(400, "invalid_redirect_uri");
                }
                let id = self.fresh("client");
                self.clients
                    .lock()
                    .unwrap()
                    .insert(id.clone(), uris.clone());
                self.registrations.fetch_add(1, Ordering::Relaxed);
                json(
                    201,
                    &json!({"client_id": id, "redirect_uris": uris, "token_endpoint_auth_method": "none"}),
                )
            }
            ("GET", "/authorize") => {
                let q: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
                let field = |k: &str| q.get(k).cloned().unwrap_or_default();
                let known = self
                    .clients
                    .lock()
                    .unwrap()
                    .get(&field("client_id"))
                    .is_some_and(|uris| uris.contains(&field("redirect_uri")));
                if !known
                    || field("response_type") != "code"
                    || field("code_challenge_method") != "S256"
                    || field("code_challenge").is_empty()
                    || field("resource").is_empty()
                {
                    return oauth_error(400, "invalid_request");
                }
                let code = self.fresh("code");
                self.codes.lock().unwrap().insert(
                    code.clone(),
                    Pending {
                        grant: Grant {
                            client_id: field("client_id"),
                            scope: field("scope"),
                            resource: field("resource"),
                        },
                        redirect_uri: field("redirect_uri"),
                        challenge: field("code_challenge"),
                    },
                );
                let mut to = url::Url::parse(&field("redirect_uri")).unwrap();
                to.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", &field("state"))
                    .append_pair("iss", base);
                with_header(common::full(302, None, ""), "location", to.as_str())
            }
            ("POST", "/token") => self.token(req),
            _ => common::full(404, None, ""),
        }
    }

    fn token(&self, req: &Seen) -> http::Response<Body> {
        let f = req.form();
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        let grant = match field("grant_type").as_str() {
            "authorization_code" => {
                // Codes are single-use: taken out whatever happens next.
                let Some(p) = self.codes.lock().unwrap().remove(&field("code")) else {
                    return oauth_error(400, "invalid_grant");
                };
                let computed =
                    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
                if computed != p.challenge
                    || p.redirect_uri != field("redirect_uri")
                    || p.grant.client_id != field("client_id")
                    || p.grant.resource != field("resource")
                {
                    return oauth_error(400, "invalid_grant");
                }
                self.code_exchanges.fetch_add(1, Ordering::Relaxed);
                p.grant
            }
            "refresh_token" => {
                // Rotation: the presented refresh token dies now.
                let Some(g) = self
                    .refresh_tokens
                    .lock()
                    .unwrap()
                    .remove(&field("refresh_token"))
                else {
                    return oauth_error(400, "invalid_grant");
                };
                if g.client_id != field("client_id") {
                    return oauth_error(400, "invalid_grant");
                }
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                g
            }
            _ => return oauth_error(400, "unsupported_grant_type"),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let secs = self.token_secs.load(Ordering::Relaxed);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("a".into());
        let access = jsonwebtoken::encode(
            &header,
            &json!({"iss": self.base(), "sub": "user-1", "aud": grant.resource, "exp": now + secs,
                    "iat": now, "scope": grant.scope, "client_id": grant.client_id}),
            &jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        let mut body = json!({"access_token": access, "token_type": "Bearer", "expires_in": secs,
                              "scope": grant.scope});
        if grant.scope.split(' ').any(|s| s == "offline_access") {
            let rt = self.fresh("refresh");
            body["refresh_token"] = json!(rt);
            self.refresh_tokens.lock().unwrap().insert(rt, grant);
        }
        json(200, &body)
    }
}

// ----- the protected MCP server -------------------------------------------------------------------------

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        input_schema: json!({"type": "object"}),
        ..Default::default()
    }
}

/// Our MCP server on 127.0.0.1 behind `BearerAuthLayer`, trusting `issuer`'s JWKS. `admin_tool` needs the
/// `admin` scope on top of `mcp:tools`.
async fn protected_server(issuer: &str) -> (String, tokio::task::JoinHandle<()>) {
    let server = Server::builder("protected", "1.0.0")
        .tool(
            tool("whoami"),
            |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                let p = ctx.principal().cloned().expect("a verified caller");
                Ok::<_, Error>(CallToolResult::text(format!(
                    "{} via {}",
                    p.subject,
                    p.client_id.unwrap_or_default()
                )))
            },
        )
        .tool(
            tool("admin_tool"),
            |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                let p = ctx.principal().cloned().expect("a verified caller");
                Ok::<_, Error>(CallToolResult::text(p.scopes.join(" ")))
            },
        )
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let verifier = JwtVerifier::with_source(HttpJwks::new(format!("{issuer}/jwks")), &resource)
        .issuer(issuer)
        // No clock-skew leeway: the expiry test needs tokens to die on time.
        .leeway(Duration::ZERO);
    let config = AuthConfig::new(&resource, vec![issuer.to_owned()])
        .required_scopes(&["mcp:tools"])
        .tool_scopes("admin_tool", &["admin"]);
    let svc = tower::Layer::layer(
        &BearerAuthLayer::new(Arc::new(verifier), config),
        McpService::new(server, HttpConfig::default()),
    );
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (resource, task)
}

async fn connect(url: &str, oauth: OAuthClient, mode: VersionMode) -> Client {
    let transport = HttpTransport::builder(url).auth(oauth).build().unwrap();
    Client::builder()
        .version_mode(mode)
        .connect(transport)
        .await
        .unwrap()
}

async fn call(client: &Client, name: &str) -> String {
    let r = client.call_tool(name, json!({})).await.unwrap();
    r.text_content()
}

// ----- the tests ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_gets_a_token_from_a_real_authorization_server_and_calls_our_server() {
    let (auth, _as_http) = AuthServer::start(300).await;
    let (url, server) = protected_server(auth.base()).await;
    for (mode, expect_exchanges) in [(VersionMode::Auto, 1), (VersionMode::Legacy, 2)] {
        let oauth = OAuthClient::builder(&url).build().unwrap();
        let client = connect(&url, oauth.clone(), mode).await;
        let text = call(&client, "whoami").await;
        assert!(text.starts_with("user-1 via client-"), "{text}");
        // Registered dynamically, signed in once; the token names exactly what was asked for.
        assert_eq!(
            auth.code_exchanges.load(Ordering::Relaxed),
            expect_exchanges
        );
        let tokens = oauth.tokens().unwrap();
        assert_eq!(tokens.token_type, "Bearer");
        assert!(
            tokens.scopes.contains(&"mcp:tools".to_owned()),
            "{:?}",
            tokens.scopes
        );
        assert!(
            tokens.refresh_token.is_some(),
            "offline_access was offered and asked for"
        );
        client.close().await;
    }
    assert_eq!(
        auth.registrations.load(Ordering::Relaxed),
        2,
        "one per client"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_replaced_by_one_flow_for_many_requests() {
    // Tokens live 1 s and there is no refresh token: after expiry every request is refused, and the
    // refusals must share one new authorization.
    let (auth, _as_http) = AuthServer::start(1).await;
    let (url, server) = protected_server(auth.base()).await;
    let oauth = OAuthClient::builder(&url)
        .offline_access(false)
        .build()
        .unwrap();
    let client = Arc::new(connect(&url, oauth, VersionMode::Auto).await);
    assert_eq!(auth.code_exchanges.load(Ordering::Relaxed), 1);
    auth.token_secs.store(300, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { call(&c, "whoami").await })
        })
        .collect();
    for c in calls {
        assert!(c.await.unwrap().starts_with("user-1"));
    }
    assert_eq!(
        auth.code_exchanges.load(Ordering::Relaxed),
        2,
        "8 refused calls, one new sign-in"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_refreshed_before_expiry_with_rotation() {
    // 4 s tokens: renewed once half their lifetime is left (not before every request, although 4 s is
    // inside the client's usual 30 s margin).
    let (auth, _as_http) = AuthServer::start(4).await;
    let (url, server) = protected_server(auth.base()).await;
    let oauth = OAuthClient::builder(&url).build().unwrap();
    let client = connect(&url, oauth.clone(), VersionMode::Auto).await;
    for _ in 0..3 {
        call(&client, "whoami").await;
    }
    assert_eq!(
        auth.refreshes.load(Ordering::Relaxed),
        0,
        "a fresh token is used as is"
    );
    let first = oauth.tokens().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(call(&client, "whoami").await.starts_with("user-1"));
    assert_eq!(auth.refreshes.load(Ordering::Relaxed), 1);
    assert_eq!(
        auth.code_exchanges.load(Ordering::Relaxed),
        1,
        "no new sign-in"
    );
    let second = oauth.tokens().unwrap();
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "the rotated one is kept"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_token_store_signs_in_once_across_runs() {
    let (auth, _as_http) = AuthServer::start(300).await;
    let (url, server) = protected_server(auth.base()).await;
    let dir = std::env::temp_dir().join(format!("mcp-e2e-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.json");
    for run in 0..2 {
        let oauth = OAuthClient::builder(&url)
            .store(FileTokenStore::new(&path))
            .build()
            .unwrap();
        let client = connect(&url, oauth, VersionMode::Auto).await;
        assert!(
            call(&client, "whoami").await.starts_with("user-1"),
            "run {run}"
        );
        client.close().await;
    }
    assert_eq!(auth.registrations.load(Ordering::Relaxed), 1);
    assert_eq!(auth.code_exchanges.load(Ordering::Relaxed), 1);
    std::fs::remove_dir_all(&dir).ok();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_needing_more_scope_steps_up_in_the_same_session() {
    let (auth, _as_http) = AuthServer::start(300).await;
    let (url, server) = protected_server(auth.base()).await;
    for mode in [VersionMode::Auto, VersionMode::Legacy] {
        let before = auth.code_exchanges.load(Ordering::Relaxed);
        let oauth = OAuthClient::builder(&url).build().unwrap();
        let client = connect(&url, oauth.clone(), mode).await;
        let session = client.session_id();
        assert!(!oauth.tokens().unwrap().scopes.contains(&"admin".to_owned()));
        // 403 insufficient_scope naming `mcp:tools admin` → re-authorize with the union → the call runs.
        let granted = call(&client, "admin_tool").await;
        assert!(granted.split(' ').any(|s| s == "admin"), "{granted}");
        assert!(granted.split(' ').any(|s| s == "mcp:tools"), "{granted}");
        assert_eq!(auth.code_exchanges.load(Ordering::Relaxed), before + 2);
        assert_eq!(
            client.session_id(),
            session,
            "{mode:?}: the session survives the step-up"
        );
        client.close().await;
    }
    server.abort();
}
