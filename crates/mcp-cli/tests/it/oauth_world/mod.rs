//! A small OAuth 2.1 authorization server (metadata, dynamic registration, authorization code with PKCE
//! that the user always approves, refresh token rotation, client credentials for one pre-registered
//! machine client) and our MCP server behind `BearerAuthLayer`, which accepts the tokens it issued (tools
//! `whoami`, `ask_name` which elicits, `ask_model` which samples). Both on
//! 127.0.0.1, in the test process, counting what the `mcp` processes ask of them.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_protocol::types::{CallToolResult, CreateMessageParams, ElicitRequestParams, Tool};
use mcp_server::auth::{AuthConfig, BearerAuthLayer, TokenError, TokenVerifier, VerifiedToken};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use sha2::Digest;

/// The pre-registered machine client.
pub const ROBOT_ID: &str = "robot";
pub const ROBOT_SECRET: &str = "robot-secret-42";

struct Grant {
    subject: String,
    client_id: String,
    scope: String,
    resource: String,
}

struct Pending {
    grant: Grant,
    redirect_uri: String,
    challenge: String,
}

/// What the authorization server counted.
#[derive(Default)]
pub struct Counts {
    pub registrations: AtomicUsize,
    pub authorizations: AtomicUsize,
    pub code_exchanges: AtomicUsize,
    pub refreshes: AtomicUsize,
    pub client_credentials: AtomicUsize,
}

impl Counts {
    pub fn get(&self) -> [usize; 5] {
        [
            self.registrations.load(Ordering::SeqCst),
            self.authorizations.load(Ordering::SeqCst),
            self.code_exchanges.load(Ordering::SeqCst),
            self.refreshes.load(Ordering::SeqCst),
            self.client_credentials.load(Ordering::SeqCst),
        ]
    }
}

#[derive(Default)]
struct State {
    issuer: OnceLock<String>,
    token_secs: AtomicU64,
    next: AtomicUsize,
    clients: Mutex<HashMap<String, Vec<String>>>,
    codes: Mutex<HashMap<String, Pending>>,
    refresh_tokens: Mutex<HashMap<String, Grant>>,
    /// Access token -> (subject, client, scopes, expiry).
    access: Mutex<HashMap<String, (String, String, String, u64)>>,
    counts: Arc<Counts>,
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn respond(status: u16, v: &Value) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())).boxed())
        .unwrap()
}

fn oauth_error(status: u16, error: &str) -> http::Response<Body> {
    respond(status, &json!({"error": error}))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl State {
    fn fresh(&self, prefix: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("{prefix}-{n}-{nanos:x}")
    }

    fn handle(
        &self,
        method: &str,
        path_q: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> http::Response<Body> {
        let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
        let base = self.issuer.get().unwrap().clone();
        match (method, path) {
            ("GET", "/.well-known/oauth-authorization-server") => respond(
                200,
                &json!({
                    "issuer": base,
                    "authorization_endpoint": format!("{base}/authorize"),
                    "token_endpoint": format!("{base}/token"),
                    "registration_endpoint": format!("{base}/register"),
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
                    "scopes_supported": ["mcp:tools", "offline_access"],
                    "authorization_response_iss_parameter_supported": true,
                }),
            ),
            ("POST", "/register") => {
                let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                let uris: Vec<String> = req["redirect_uris"]
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
                self.counts.registrations.fetch_add(1, Ordering::SeqCst);
                respond(
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
                self.counts.authorizations.fetch_add(1, Ordering::SeqCst);
                let code = self.fresh("code");
                self.codes.lock().unwrap().insert(
                    code.clone(),
                    Pending {
                        grant: Grant {
                            subject: "user-1".into(),
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
                    .append_pair("iss", &base);
                http::Response::builder()
                    .status(302)
                    .header("location", to.as_str())
                    .body(Full::new(Bytes::new()).boxed())
                    .unwrap()
            }
            ("POST", "/token") => self.token(headers, body),
            _ => oauth_error(404, "not_found"),
        }
    }

    fn token(&self, headers: &http::HeaderMap, body: &[u8]) -> http::Response<Body> {
        let f: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
        let field = |k: &str| f.get(k).cloned().unwrap_or_default();
        // The client: HTTP Basic, else the form's client_id (public clients).
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
        let client_id = basic
            .as_ref()
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| field("client_id"));
        let grant = match field("grant_type").as_str() {
            "authorization_code" => {
                let Some(p) = self.codes.lock().unwrap().remove(&field("code")) else {
                    return oauth_error(400, "invalid_grant");
                };
                let computed =
                    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
                if computed != p.challenge
                    || p.redirect_uri != field("redirect_uri")
                    || p.grant.client_id != client_id
                    || p.grant.resource != field("resource")
                {
                    return oauth_error(400, "invalid_grant");
                }
                self.counts.code_exchanges.fetch_add(1, Ordering::SeqCst);
                p.grant
            }
            "refresh_token" => {
                // Rotation: the presented refresh token dies now, so a second refresh with it fails.
                let Some(g) = self
                    .refresh_tokens
                    .lock()
                    .unwrap()
                    .remove(&field("refresh_token"))
                else {
                    return oauth_error(400, "invalid_grant");
                };
                if g.client_id != client_id {
                    return oauth_error(400, "invalid_grant");
                }
                self.counts.refreshes.fetch_add(1, Ordering::SeqCst);
                g
            }
            "client_credentials" => {
                if basic != Some((ROBOT_ID.to_owned(), ROBOT_SECRET.to_owned()))
                    && (field("client_id"), field("client_secret"))
                        != (ROBOT_ID.to_owned(), ROBOT_SECRET.to_owned())
                {
                    return oauth_error(401, "invalid_client");
                }
                self.counts
                    .client_credentials
                    .fetch_add(1, Ordering::SeqCst);
                Grant {
                    subject: ROBOT_ID.into(),
                    client_id: ROBOT_ID.into(),
                    scope: field("scope"),
                    resource: field("resource"),
                }
            }
            _ => return oauth_error(400, "unsupported_grant_type"),
        };
        let secs = self.token_secs.load(Ordering::SeqCst);
        let access = self.fresh("access");
        self.access.lock().unwrap().insert(
            access.clone(),
            (
                grant.subject.clone(),
                grant.client_id.clone(),
                grant.scope.clone(),
                now() + secs,
            ),
        );
        let mut body = json!({"access_token": access, "token_type": "Bearer", "expires_in": secs, "scope": grant.scope});
        if grant.scope.split(' ').any(|s| s == "offline_access") {
            let rt = self.fresh("refresh");
            body["refresh_token"] = json!(rt);
            self.refresh_tokens.lock().unwrap().insert(rt, grant);
        }
        respond(200, &body)
    }
}

/// Accepts the access tokens the authorization server issued, until they expire.
struct Issued {
    state: Arc<State>,
    resource: String,
}

impl TokenVerifier for Issued {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<VerifiedToken, TokenError>> {
        let found = self.state.access.lock().unwrap().get(token).cloned();
        let resource = self.resource.clone();
        Box::pin(async move {
            let (subject, client, scope, exp) =
                found.ok_or_else(|| TokenError::InvalidToken("unknown".into()))?;
            if exp <= now() {
                return Err(TokenError::Expired);
            }
            Ok(VerifiedToken {
                subject,
                scopes: scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                client_id: Some(client),
                audiences: vec![resource],
                expires_at: Some(exp),
            })
        })
    }
}

/// The authorization server and the protected MCP server, running until dropped.
pub struct World {
    pub issuer: String,
    pub mcp_url: String,
    pub counts: Arc<Counts>,
    state: Arc<State>,
    rt: tokio::runtime::Runtime,
}

impl World {
    /// Access tokens live `token_secs`.
    pub fn start(token_secs: u64) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(State::default());
        state.token_secs.store(token_secs, Ordering::SeqCst);
        let counts = state.counts.clone();
        let (issuer, mcp_url) = rt.block_on(async {
            let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let issuer = format!("http://{}", as_listener.local_addr().unwrap());
            state.issuer.set(issuer.clone()).unwrap();
            let s = state.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = as_listener.accept().await else {
                        return;
                    };
                    let s = s.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let s = s.clone();
                                async move {
                                    let (parts, body) = req.into_parts();
                                    let bytes = body
                                        .collect()
                                        .await
                                        .map(|b| b.to_bytes())
                                        .unwrap_or_default();
                                    let pq = parts
                                        .uri
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default();
                                    Ok::<_, Infallible>(s.handle(
                                        parts.method.as_str(),
                                        &pq,
                                        &parts.headers,
                                        &bytes,
                                    ))
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });

            let server = Server::builder("protected", "1.0.0")
                .tool(
                    Tool {
                        name: "whoami".into(),
                        description: Some("Who the token says the caller is".into()),
                        input_schema: json!({"type": "object"}),
                        ..Default::default()
                    },
                    |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                        let p = ctx.principal().cloned().expect("a verified caller");
                        Ok::<_, Error>(CallToolResult::text(format!(
                            "{} via {}",
                            p.subject,
                            p.client_id.unwrap_or_default()
                        )))
                    },
                )
                // What goes through a signed-in connection besides plain calls: the server asking the
                // client (elicitation, sampling), a real request on legacy sessions and an input_required
                // round on 2026-07-28.
                .tool(
                    Tool {
                        name: "ask_name".into(),
                        description: Some("Asks the user's name, then greets them".into()),
                        input_schema: json!({"type": "object"}),
                        ..Default::default()
                    },
                    |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                        let form = ElicitRequestParams::form(
                            "What is your name?",
                            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
                        );
                        let r = ctx.elicit("name", form).await?;
                        let name = r
                            .content
                            .as_ref()
                            .and_then(|c| c.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or("stranger")
                            .to_owned();
                        Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
                    },
                )
                .tool(
                    Tool {
                        name: "ask_model".into(),
                        description: Some("Asks the client's model".into()),
                        input_schema: json!({"type": "object"}),
                        ..Default::default()
                    },
                    |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                        let r = ctx
                            .sample("q", CreateMessageParams::user_text("Say something", 50))
                            .await?;
                        Ok::<_, Error>(CallToolResult::text(format!(
                            "The model said: {}",
                            r.text().unwrap_or_default()
                        )))
                    },
                )
                .build();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
            let verifier = Issued {
                state: state.clone(),
                resource: resource.clone(),
            };
            let config =
                AuthConfig::new(&resource, vec![issuer.clone()]).required_scopes(&["mcp:tools"]);
            let svc = tower::Layer::layer(
                &BearerAuthLayer::new(Arc::new(verifier), config),
                McpService::new(server, HttpConfig::default()),
            );
            tokio::spawn(async move {
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
            (issuer, resource)
        });
        Self {
            issuer,
            mcp_url,
            counts,
            state,
            rt,
        }
    }

    /// Follow an authorization URL as a browser whose user approves: the address it is sent back to.
    pub fn approve(&self, authorization_url: &str) -> String {
        let url = authorization_url.to_owned();
        self.rt.block_on(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let resp = http.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 302, "the authorization server refused {url}");
            resp.headers()["location"].to_str().unwrap().to_owned()
        })
    }

    /// The protected server stops accepting every access token issued so far (they expire now), as when a
    /// token's life ends before its holder expected: the next request meets 401 `invalid_token`.
    pub fn expire_access_tokens(&self) {
        let past = now() - 1;
        for v in self.state.access.lock().unwrap().values_mut() {
            v.3 = past;
        }
    }

    /// The authorization server forgets every refresh token: only a new sign-in gets tokens again.
    pub fn revoke_refresh_tokens(&self) {
        self.state.refresh_tokens.lock().unwrap().clear();
    }

    /// Whether `token` is one the authorization server issued.
    pub fn issued(&self, token: &str) -> bool {
        self.state.access.lock().unwrap().contains_key(token)
    }
}
