//! Discovery, registration and the grants against a real HTTP peer: a small authorization server (hyper, on
//! 127.0.0.1) that records every request and answers from a per-test route table. Nothing of ours is
//! replaced: the client's own `reqwest` requests go over loopback, so each assertion is about what went on
//! the wire.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use reqwest::{Method, Url};
use serde_json::{json, Value};
use sha2::Digest;

use super::inner::{Discovered, FlowState};
use super::{OAuthClient, OAuthClientBuilder, PreRegistered};
use crate::auth::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use crate::auth::{parse_challenges, AuthErrorKind, AuthProvider, Challenge, Refusal};
use crate::error::Error;

// ----- the peer --------------------------------------------------------------------------------------------

/// One request the peer received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Seen {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply_json(status: u16, v: Value) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: v.to_string(),
    }
}

fn redirect(location: String) -> Reply {
    Reply {
        status: 302,
        headers: vec![("location".into(), location)],
        body: String::new(),
    }
}

/// A route: given the request, the peer's base URL and how many requests this route answered before.
type Handler = dyn Fn(&Seen, &str, usize) -> Reply + Send + Sync;
/// Path → route and how many requests it answered.
type Routes = Arc<Mutex<HashMap<String, (Arc<Handler>, usize)>>>;

struct Peer {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    routes: Routes,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Peer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let routes: Routes = Arc::default();
        let (s, r, b) = (seen.clone(), routes.clone(), base.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, r, b) = (s.clone(), r.clone(), b.clone());
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (s, r, b) = (s.clone(), r.clone(), b.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let seen = Seen {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_owned(),
                                query: url::form_urlencoded::parse(
                                    parts.uri.query().unwrap_or_default().as_bytes(),
                                )
                                .into_owned()
                                .collect(),
                                headers: parts.headers,
                                body,
                            };
                            s.lock().unwrap().push(seen.clone());
                            let route = {
                                let mut routes = r.lock().unwrap();
                                routes.get_mut(&seen.path).map(|(h, n)| {
                                    *n += 1;
                                    (h.clone(), *n - 1)
                                })
                            };
                            let reply = match route {
                                Some((h, n)) => h(&seen, &b, n),
                                None => reply_json(404, json!({"error": "not_found"})),
                            };
                            let mut resp = hyper::Response::builder().status(reply.status);
                            for (k, v) in reply.headers {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, Infallible>(
                                resp.body(Full::new(Bytes::from(reply.body))).unwrap(),
                            )
                        }
                    },
                );
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            base,
            seen,
            routes,
            task,
        }
    }

    fn route(&self, path: &str, h: impl Fn(&Seen, &str, usize) -> Reply + Send + Sync + 'static) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), (Arc::new(h), 0));
    }

    /// Serve a JSON document built from the base URL.
    fn doc(&self, path: &str, f: impl Fn(&str) -> Value + Send + Sync + 'static) {
        self.route(path, move |_, b, _| reply_json(200, f(b)));
    }

    fn unroute(&self, path: &str) {
        self.routes.lock().unwrap().remove(path);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The paths requested, in order.
    fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.path).collect()
    }

    fn at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    fn client(&self) -> OAuthClientBuilder {
        OAuthClient::builder(self.mcp_url())
    }
}

const PRM_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const PRM_ROOT: &str = "/.well-known/oauth-protected-resource";
const AS_OAUTH: &str = "/.well-known/oauth-authorization-server";
const AS_OIDC: &str = "/.well-known/openid-configuration";
const REDIRECT_URI: &str = "http://localhost:3000/callback";

fn prm(b: &str) -> Value {
    json!({
        "resource": format!("{b}/mcp"),
        "authorization_servers": [b],
        "scopes_supported": ["mcp:read", "mcp:write"],
    })
}

fn as_metadata(b: &str) -> Value {
    json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "registration_endpoint": format!("{b}/register"),
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
        "token_endpoint_auth_methods_supported": ["none"],
    })
}

/// A complete authorization server: PRM at the path-aware well-known, metadata, registration, an
/// authorization endpoint that approves at once (echoing `state`, with `iss`), and a token endpoint.
async fn standard_peer() -> Peer {
    let p = Peer::start().await;
    p.doc(PRM_PATH, prm);
    p.doc(AS_OAUTH, as_metadata);
    p.route("/register", |_, _, n| {
        reply_json(201, json!({"client_id": format!("dyn-{}", n + 1)}))
    });
    p.route("/authorize", |s, b, n| {
        let state = s.q("state").unwrap_or_default();
        redirect(format!(
            "{REDIRECT_URI}?code=code-{}&state={state}&iss={b}",
            n + 1
        ))
    });
    p.route("/token", |_, _, n| {
        reply_json(
            200,
            json!({"access_token": format!("at-{}", n + 1), "token_type": "Bearer",
                   "expires_in": 3600, "refresh_token": format!("rt-{}", n + 1)}),
        )
    });
    // The MCP endpoint refuses unauthenticated requests, pointing at its PRM and asking for `mcp:read`.
    p.route("/mcp", |_, b, _| Reply {
        status: 401,
        headers: vec![(
            "www-authenticate".into(),
            format!(r#"Bearer resource_metadata="{b}{PRM_PATH}", scope="mcp:read""#),
        )],
        body: String::new(),
    });
    p
}

async fn discover(c: &OAuthClient, hint: Option<&str>) -> Result<Discovered, Error> {
    c.inner.discover(&mut FlowState::default(), hint).await
}

async fn discover_err(c: &OAuthClient) -> Error {
    match discover(c, None).await {
        Ok(d) => panic!("discovery succeeded: {:?}", d.metadata),
        Err(e) => e,
    }
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

// ----- protected resource metadata ----------------------------------------------------------------------

#[tokio::test]
async fn prm_at_the_path_aware_well_known_comes_before_the_root_one() {
    let p = standard_peer().await;
    p.doc(
        PRM_ROOT,
        |b| json!({"resource": b, "authorization_servers": ["http://other.invalid"]}),
    );
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    let prm = d.prm.unwrap();
    assert_eq!(prm.resource, p.mcp_url());
    assert_eq!(d.metadata.issuer, p.base);
    assert_eq!(d.resource, p.mcp_url());
    assert!(d.from_document);
    assert_eq!(p.paths(), [PRM_PATH, AS_OAUTH]);
}

#[tokio::test]
async fn prm_falls_back_to_the_root_well_known() {
    let p = standard_peer().await;
    p.unroute(PRM_PATH);
    p.doc(
        PRM_ROOT,
        |b| json!({"resource": b, "authorization_servers": [b], "scopes_supported": ["root"]}),
    );
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert_eq!(d.prm.unwrap().scopes_supported.unwrap(), ["root"]);
    // The resource to ask tokens for is the PRM's (the origin stands for the server at /mcp).
    assert_eq!(d.resource, p.base);
    assert_eq!(p.paths(), [PRM_PATH, PRM_ROOT, AS_OAUTH]);
}

#[tokio::test]
async fn a_challenges_resource_metadata_is_tried_before_the_well_knowns() {
    let p = standard_peer().await;
    p.doc("/meta/prm.json", |b| {
        json!({"resource": format!("{b}/mcp"), "authorization_servers": [b], "scopes_supported": ["hinted"]})
    });
    let c = p.client().build().unwrap();
    let hint = format!("{}/meta/prm.json", p.base);
    let d = discover(&c, Some(&hint)).await.unwrap();
    assert_eq!(d.prm.unwrap().scopes_supported.unwrap(), ["hinted"]);
    assert_eq!(p.paths(), ["/meta/prm.json", AS_OAUTH]);
}

#[tokio::test]
async fn a_missing_hinted_document_falls_back_to_the_well_knowns() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    let hint = format!("{}/gone.json", p.base);
    let d = discover(&c, Some(&hint)).await.unwrap();
    assert_eq!(d.prm.unwrap().resource, p.mcp_url());
    assert_eq!(p.paths(), ["/gone.json", PRM_PATH, AS_OAUTH]);
}

#[tokio::test]
async fn prm_describing_another_resource_stops_the_flow() {
    let p = standard_peer().await;
    p.doc(
        PRM_PATH,
        |b| json!({"resource": "https://elsewhere.example/mcp", "authorization_servers": [b]}),
    );
    let c = p.client().build().unwrap();
    let err = discover_err(&c).await;
    assert_eq!(
        err.auth_kind(),
        Some(AuthErrorKind::ResourceMismatch),
        "{err:?}"
    );
    let m = err.to_string();
    assert!(m.contains(&format!("{:?}", p.mcp_url())), "{m}");
    assert!(m.contains("\"https://elsewhere.example/mcp\""), "{m}");
    // Its authorization server is never contacted.
    assert_eq!(p.paths(), [PRM_PATH]);
}

#[tokio::test]
async fn a_server_error_during_discovery_is_an_error_not_a_fallback() {
    let p = standard_peer().await;
    p.route(PRM_PATH, |_, _, _| reply_json(503, json!({})));
    let c = p.client().build().unwrap();
    let err = discover_err(&c).await;
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Network) && {
            let m = err.to_string();
            m.contains("503")
        },
        "{err:?}"
    );
    assert_eq!(p.paths(), [PRM_PATH]);
}

#[tokio::test]
async fn prm_without_an_authorization_server_is_unusable() {
    let p = standard_peer().await;
    p.doc(PRM_PATH, |b| json!({"resource": format!("{b}/mcp")}));
    let c = p.client().build().unwrap();
    let err = discover_err(&c).await;
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Metadata) && {
            let m = err.to_string();
            m.contains("no authorization server")
        },
        "{err:?}"
    );
}

#[tokio::test]
async fn without_prm_the_origin_is_the_issuer_and_its_metadata_is_used() {
    let p = standard_peer().await;
    p.unroute(PRM_PATH);
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert!(d.prm.is_none());
    assert!(d.from_document);
    assert_eq!(d.metadata.issuer, p.base);
    assert_eq!(d.resource, p.mcp_url());
    assert_eq!(p.paths(), [PRM_PATH, PRM_ROOT, AS_OAUTH]);
}

#[tokio::test]
async fn without_any_metadata_the_2025_03_26_default_endpoints_are_used() {
    let p = standard_peer().await;
    p.unroute(PRM_PATH);
    p.unroute(AS_OAUTH);
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert!(!d.from_document);
    let b = &p.base;
    assert_eq!(d.metadata.issuer, *b);
    assert_eq!(
        d.metadata.authorization_endpoint.unwrap(),
        format!("{b}/authorize")
    );
    assert_eq!(d.metadata.token_endpoint, format!("{b}/token"));
    assert_eq!(
        d.metadata.registration_endpoint.unwrap(),
        format!("{b}/register")
    );
    assert_eq!(p.paths(), [PRM_PATH, PRM_ROOT, AS_OAUTH, AS_OIDC]);
}

// ----- authorization server metadata --------------------------------------------------------------------

/// A peer whose PRM names the issuer `<base>/tenant`, with no metadata served yet.
async fn tenant_peer() -> Peer {
    let p = standard_peer().await;
    p.unroute(AS_OAUTH);
    p.doc(PRM_PATH, |b| {
        json!({"resource": format!("{b}/mcp"), "authorization_servers": [format!("{b}/tenant")]})
    });
    p
}

fn tenant_metadata(b: &str, token_path: &str) -> Value {
    let mut m = as_metadata(&format!("{b}/tenant"));
    m["token_endpoint"] = json!(format!("{b}{token_path}"));
    m
}

#[tokio::test]
async fn an_issuer_with_a_path_is_looked_up_in_the_specified_order() {
    let p = tenant_peer().await;
    p.doc("/tenant/.well-known/openid-configuration", |b| {
        tenant_metadata(b, "/oidc-appended/token")
    });
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert_eq!(d.metadata.issuer, format!("{}/tenant", p.base));
    assert_eq!(
        d.metadata.token_endpoint,
        format!("{}/oidc-appended/token", p.base)
    );
    assert_eq!(
        p.paths(),
        [
            PRM_PATH,
            "/.well-known/oauth-authorization-server/tenant",
            "/.well-known/openid-configuration/tenant",
            "/tenant/.well-known/openid-configuration",
        ]
    );
}

#[tokio::test]
async fn oauth_metadata_is_preferred_to_openid_configuration() {
    let p = tenant_peer().await;
    p.doc("/.well-known/oauth-authorization-server/tenant", |b| {
        tenant_metadata(b, "/oauth/token")
    });
    p.doc("/.well-known/openid-configuration/tenant", |b| {
        tenant_metadata(b, "/oidc/token")
    });
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert_eq!(d.metadata.token_endpoint, format!("{}/oauth/token", p.base));
    assert_eq!(
        p.paths(),
        [PRM_PATH, "/.well-known/oauth-authorization-server/tenant"]
    );
}

#[tokio::test]
async fn openid_configuration_with_path_insertion_comes_second() {
    let p = tenant_peer().await;
    p.doc("/.well-known/openid-configuration/tenant", |b| {
        tenant_metadata(b, "/oidc/token")
    });
    p.doc("/tenant/.well-known/openid-configuration", |b| {
        tenant_metadata(b, "/oidc-appended/token")
    });
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert_eq!(d.metadata.token_endpoint, format!("{}/oidc/token", p.base));
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_skipped() {
    let p = tenant_peer().await;
    p.doc("/.well-known/oauth-authorization-server/tenant", |b| {
        let mut m = tenant_metadata(b, "/evil/token");
        m["issuer"] = json!("https://evil.example");
        m
    });
    p.doc("/.well-known/openid-configuration/tenant", |b| {
        tenant_metadata(b, "/oidc/token")
    });
    let c = p.client().build().unwrap();
    let d = discover(&c, None).await.unwrap();
    assert_eq!(d.metadata.token_endpoint, format!("{}/oidc/token", p.base));
}

#[tokio::test]
async fn only_metadata_naming_another_issuer_is_an_issuer_mismatch() {
    let p = tenant_peer().await;
    p.doc("/.well-known/oauth-authorization-server/tenant", |b| {
        let mut m = tenant_metadata(b, "/evil/token");
        m["issuer"] = json!("https://evil.example");
        m
    });
    let c = p.client().build().unwrap();
    let err = discover_err(&c).await;
    assert_eq!(
        err.auth_kind(),
        Some(AuthErrorKind::IssuerMismatch),
        "{err:?}"
    );
    let m = err.to_string();
    assert!(
        m.contains(&format!("{:?}", format!("{}/tenant", p.base))),
        "{m}"
    );
    assert!(m.contains("\"https://evil.example\""), "{m}");
}

#[tokio::test]
async fn an_issuer_without_metadata_is_an_error() {
    let p = tenant_peer().await;
    let c = p.client().build().unwrap();
    let err = discover_err(&c).await;
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Metadata) && {
            let m = err.to_string();
            m.contains("no metadata found for issuer")
        },
        "{err:?}"
    );
}

// ----- dynamic client registration ----------------------------------------------------------------------

#[tokio::test]
async fn dynamic_registration_sends_the_client_metadata_and_uses_the_issued_id() {
    let p = standard_peer().await;
    let c = p.client().client_name("unit test client").build().unwrap();
    c.authorize().await.unwrap();
    let reg = p.at("/register");
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].method, "POST");
    assert_eq!(
        reg[0].json(),
        json!({
            "client_name": "unit test client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
        })
    );
    assert_eq!(p.at("/authorize")[0].q("client_id"), Some("dyn-1"));
    assert_eq!(p.at("/token")[0].form()["client_id"], "dyn-1");
}

#[tokio::test]
async fn registration_picks_a_secret_method_the_server_offers_and_uses_the_secret() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["token_endpoint_auth_methods_supported"] =
            json!(["private_key_jwt", "client_secret_post"]);
        m["grant_types_supported"] = json!(["authorization_code"]);
        m
    });
    p.route("/register", |_, _, _| {
        reply_json(
            201,
            json!({"client_id": "conf-1", "client_secret": "s3cret"}),
        )
    });
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    let body = p.at("/register")[0].json();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    // No refresh_token grant offered: none asked for.
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    let token = &p.at("/token")[0];
    let form = token.form();
    assert_eq!(form["client_id"], "conf-1");
    assert_eq!(form["client_secret"], "s3cret");
    assert!(token.header("authorization").is_none());
}

#[tokio::test]
async fn a_refused_registration_reports_the_servers_error() {
    let p = standard_peer().await;
    p.route("/register", |_, _, _| {
        reply_json(
            400,
            json!({"error": "invalid_redirect_uri", "error_description": "loopback only"}),
        )
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Registration) && {
            let m = err.to_string();
            m.ends_with("invalid_redirect_uri (loopback only)")
        },
        "{err:?}"
    );
    assert!(p.at("/authorize").is_empty());
    assert!(c.tokens().is_none());
}

#[tokio::test]
async fn an_unreadable_registration_response_is_an_error() {
    let p = standard_peer().await;
    p.route("/register", |_, _, _| {
        reply_json(201, json!({"client_secret": "x"}))
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Registration) && {
            let m = err.to_string();
            m.contains("unreadable")
        },
        "{err:?}"
    );
}

#[tokio::test]
async fn no_usable_authentication_method_is_refused_before_registering() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        m
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Unsupported),
        "{err:?}"
    );
    assert!(p.at("/register").is_empty());
}

#[tokio::test]
async fn no_way_to_register_is_unsupported() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m.as_object_mut().unwrap().remove("registration_endpoint");
        m
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Unsupported) && {
            let m = err.to_string();
            m.contains("no registration endpoint")
        },
        "{err:?}"
    );
}

#[tokio::test]
async fn a_registration_is_kept_and_reused_for_the_next_flow() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    c.authorize().await.unwrap();
    assert_eq!(p.at("/register").len(), 1);
    let tokens = p.at("/token");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].form()["client_id"], "dyn-1");
}

#[tokio::test]
async fn a_client_id_metadata_document_replaces_registration_when_supported() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["client_id_metadata_document_supported"] = json!(true);
        m
    });
    let doc = "https://app.example/client.json";
    let c = p.client().client_metadata_url(doc).build().unwrap();
    c.authorize().await.unwrap();
    assert!(p.at("/register").is_empty());
    assert_eq!(p.at("/authorize")[0].q("client_id"), Some(doc));
    assert_eq!(p.at("/token")[0].form()["client_id"], doc);
}

// ----- authorization code with PKCE ---------------------------------------------------------------------

#[tokio::test]
async fn the_authorization_code_flow_sends_pkce_state_and_resource() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    // The probe, then discovery from the challenge, registration, the user's step, the code exchange.
    assert_eq!(
        p.paths(),
        [
            "/mcp",
            PRM_PATH,
            AS_OAUTH,
            "/register",
            "/authorize",
            "/token"
        ]
    );
    let a = &p.at("/authorize")[0];
    assert_eq!(a.q("response_type"), Some("code"));
    assert_eq!(a.q("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(a.q("code_challenge_method"), Some("S256"));
    assert_eq!(a.q("resource"), Some(p.mcp_url().as_str()));
    // The challenge's scope, plus offline_access the server offers.
    assert_eq!(a.q("scope"), Some("mcp:read offline_access"));
    let challenge = a.q("code_challenge").unwrap();
    assert_eq!(challenge.len(), 43);
    assert!(a.q("state").is_some_and(|s| s.len() >= 22));

    let t = &p.at("/token")[0];
    assert_eq!(t.method, "POST");
    assert_eq!(
        t.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = t.form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["resource"], p.mcp_url());
    // The verifier is the one the challenge was derived from.
    assert_eq!(s256(&form["code_verifier"]), challenge);

    let tokens = c.tokens().unwrap();
    assert_eq!(tokens.access_token, "at-1");
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(tokens.issuer, p.base);
    assert_eq!(tokens.scopes, ["mcp:read", "offline_access"]);
    let headers = c
        .headers(&Method::POST, &Url::parse(&p.mcp_url()).unwrap())
        .await
        .unwrap();
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].1.to_str().unwrap(), "Bearer at-1");
}

#[tokio::test]
async fn each_flow_uses_a_new_verifier_and_state() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    c.authorize().await.unwrap();
    let a = p.at("/authorize");
    assert_ne!(a[0].q("state"), a[1].q("state"));
    assert_ne!(a[0].q("code_challenge"), a[1].q("code_challenge"));
}

#[tokio::test]
async fn metadata_without_pkce_s256_is_refused_before_the_user_is_involved() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["code_challenge_methods_supported"] = json!(["plain"]);
        m
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Unsupported) && {
            let m = err.to_string();
            m.contains("S256")
        },
        "{err:?}"
    );
    assert!(p.at("/authorize").is_empty());
}

#[tokio::test]
async fn a_redirect_with_another_state_is_rejected() {
    let p = standard_peer().await;
    p.route("/authorize", |_, b, _| {
        redirect(format!("{REDIRECT_URI}?code=c&state=forged&iss={b}"))
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Authorization) && {
            let m = err.to_string();
            m.contains("state")
        },
        "{err:?}"
    );
    assert!(p.at("/token").is_empty());
}

#[tokio::test]
async fn a_redirect_from_another_issuer_is_rejected() {
    let p = standard_peer().await;
    p.route("/authorize", |s, _, _| {
        let state = s.q("state").unwrap_or_default();
        redirect(format!(
            "{REDIRECT_URI}?code=c&state={state}&iss=https://evil.example"
        ))
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Authorization) && {
            let m = err.to_string();
            m.contains("evil.example")
        },
        "{err:?}"
    );
    assert!(p.at("/token").is_empty());
}

#[tokio::test]
async fn a_missing_iss_is_rejected_when_the_server_promised_one() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["authorization_response_iss_parameter_supported"] = json!(true);
        m
    });
    p.route("/authorize", |s, _, _| {
        let state = s.q("state").unwrap_or_default();
        redirect(format!("{REDIRECT_URI}?code=c&state={state}"))
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Authorization) && {
            let m = err.to_string();
            m.contains("iss")
        },
        "{err:?}"
    );
    assert!(p.at("/token").is_empty());
}

#[tokio::test]
async fn an_error_redirect_is_reported() {
    let p = standard_peer().await;
    p.route("/authorize", |s, b, _| {
        let state = s.q("state").unwrap_or_default();
        redirect(format!(
            "{REDIRECT_URI}?error=access_denied&error_description=user+said+no&state={state}&iss={b}"
        ))
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Authorization) && {
            let m = err.to_string();
            m.ends_with("access_denied user said no")
        },
        "{err:?}"
    );
    assert!(p.at("/token").is_empty());
}

#[tokio::test]
async fn invalid_grant_from_the_token_endpoint_is_reported() {
    let p = standard_peer().await;
    p.route("/token", |_, _, _| {
        reply_json(
            400,
            json!({"error": "invalid_grant", "error_description": "code expired"}),
        )
    });
    let c = p.client().build().unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Token) && {
            let m = err.to_string();
            m.ends_with("HTTP 400: invalid_grant (code expired)")
        },
        "{err:?}"
    );
    assert!(c.tokens().is_none());
}

#[tokio::test]
async fn a_token_response_without_an_access_token_is_an_error() {
    let p = standard_peer().await;
    p.route("/token", |_, _, _| {
        reply_json(200, json!({"token_type": "Bearer"}))
    });
    let c = p.client().build().unwrap();
    assert!(c.authorize().await.is_err());
    assert!(c.tokens().is_none());
}

// ----- refresh -------------------------------------------------------------------------------------------

/// A peer whose first token expires at once (so the next request renews it); later token requests answer
/// with `refresh`.
async fn expiring_peer(refresh: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Peer {
    let p = standard_peer().await;
    p.route("/token", move |s, _, n| {
        if n == 0 {
            reply_json(
                200,
                json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 0,
                       "refresh_token": "rt-1", "scope": "mcp:read"}),
            )
        } else {
            refresh(s)
        }
    });
    p
}

async fn auth_header(c: &OAuthClient, p: &Peer) -> Option<String> {
    let h = c
        .headers(&Method::POST, &Url::parse(&p.mcp_url()).unwrap())
        .await
        .unwrap();
    h.first().map(|(_, v)| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_before_the_next_request() {
    let p = expiring_peer(|_| {
        reply_json(
            200,
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    assert_eq!(auth_header(&c, &p).await.as_deref(), Some("Bearer at-2"));
    let t = p.at("/token");
    assert_eq!(t.len(), 2);
    let form = t[1].form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "rt-1");
    assert_eq!(form["resource"], p.mcp_url());
    assert_eq!(form["client_id"], "dyn-1");
    assert!(!form.contains_key("code_verifier"));
    let tokens = c.tokens().unwrap();
    // No new refresh token: the old one is kept, and so are the granted scopes.
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-1"));
    assert_eq!(tokens.scopes, ["mcp:read"]);
    // No new authorization or registration for a refresh.
    assert_eq!(p.at("/authorize").len(), 1);
    assert_eq!(p.at("/register").len(), 1);
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let p = expiring_peer(|_| {
        reply_json(
            200,
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600,
                   "refresh_token": "rt-2"}),
        )
    })
    .await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    assert_eq!(auth_header(&c, &p).await.as_deref(), Some("Bearer at-2"));
    assert_eq!(c.tokens().unwrap().refresh_token.as_deref(), Some("rt-2"));
}

#[tokio::test]
async fn invalid_grant_on_refresh_forgets_the_refresh_token() {
    let p = expiring_peer(|_| reply_json(400, json!({"error": "invalid_grant"}))).await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    let mut state = c.inner.flow.lock().await;
    let err = c.inner.refresh(&mut state, &p.base).await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Token) && {
            let m = err.to_string();
            m.contains("refresh refused: invalid_grant")
        },
        "{err:?}"
    );
    assert!(state.creds.tokens.as_ref().unwrap().refresh_token.is_none());
    drop(state);
    assert!(c.tokens().unwrap().refresh_token.is_none());
}

#[tokio::test]
async fn other_refresh_failures_keep_the_refresh_token() {
    let p = expiring_peer(|_| reply_json(400, json!({"error": "temporarily_unavailable"}))).await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    let mut state = c.inner.flow.lock().await;
    let err = c.inner.refresh(&mut state, &p.base).await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Token) && {
            let m = err.to_string();
            m.contains("temporarily_unavailable")
        },
        "{err:?}"
    );
    drop(state);
    assert_eq!(c.tokens().unwrap().refresh_token.as_deref(), Some("rt-1"));
}

#[tokio::test]
async fn a_failed_renewal_still_sends_the_old_token() {
    let p = expiring_peer(|_| reply_json(400, json!({"error": "invalid_grant"}))).await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    // The request goes out with what the client has; the server's 401 then starts a new flow.
    assert_eq!(auth_header(&c, &p).await.as_deref(), Some("Bearer at-1"));
    assert_eq!(p.at("/token").len(), 2);
}

#[tokio::test]
async fn a_401_with_a_refresh_token_refreshes_instead_of_re_authorizing() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    let refusal = Refusal {
        status: 401,
        challenges: parse_challenges([r#"Bearer error="invalid_token""#]),
        dpop_nonce: None,
        url: Url::parse(&p.mcp_url()).unwrap(),
        access_token: Some("at-1".into()),
        attempt: 0,
    };
    assert!(c.refused(&refusal).await.unwrap());
    let t = p.at("/token");
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].form()["grant_type"], "refresh_token");
    assert_eq!(t[1].form()["refresh_token"], "rt-1");
    assert_eq!(p.at("/authorize").len(), 1);
    assert_eq!(c.tokens().unwrap().access_token, "at-2");
}

// ----- client credentials --------------------------------------------------------------------------------

fn service_account(secret: &str) -> PreRegistered {
    PreRegistered {
        client_id: "svc job".into(),
        client_secret: Some(secret.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn client_credentials_authenticate_with_http_basic_and_involve_no_user() {
    let p = standard_peer().await;
    let c = p
        .client()
        .pre_registered(service_account("p@ss word"))
        .client_credentials()
        .scopes(["jobs:run"])
        .build()
        .unwrap();
    // No challenge names a scope (the flow starts from a request's headers): the configured ones are used.
    p.route("/mcp", |_, b, _| Reply {
        status: 401,
        headers: vec![(
            "www-authenticate".into(),
            format!(r#"Bearer resource_metadata="{b}{PRM_PATH}""#),
        )],
        body: String::new(),
    });
    c.authorize().await.unwrap();
    assert!(p.at("/authorize").is_empty());
    assert!(p.at("/register").is_empty());
    let t = &p.at("/token")[0];
    // RFC 6749 §2.3.1: both parts form-encoded, then base64.
    let expected = format!("Basic {}", STANDARD.encode("svc+job:p%40ss+word"));
    assert_eq!(t.header("authorization"), Some(expected.as_str()));
    let form = t.form();
    assert_eq!(form["grant_type"], "client_credentials");
    // No offline_access for a grant that can simply run again.
    assert_eq!(form["scope"], "jobs:run");
    assert_eq!(form["resource"], p.mcp_url());
    assert!(!form.contains_key("client_id"));
    assert!(!form.contains_key("client_secret"));
    assert_eq!(c.tokens().unwrap().access_token, "at-1");
}

#[tokio::test]
async fn client_credentials_use_client_secret_post_when_basic_is_not_offered() {
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]);
        m
    });
    let c = p
        .client()
        .pre_registered(service_account("s3cret"))
        .client_credentials()
        .build()
        .unwrap();
    c.authorize().await.unwrap();
    let t = &p.at("/token")[0];
    assert!(t.header("authorization").is_none());
    let form = t.form();
    assert_eq!(form["client_id"], "svc job");
    assert_eq!(form["client_secret"], "s3cret");
}

#[tokio::test]
async fn client_credentials_are_renewed_by_running_the_grant_again() {
    let p = standard_peer().await;
    p.route("/token", |_, _, n| {
        reply_json(
            200,
            json!({"access_token": format!("cc-{}", n + 1), "token_type": "Bearer", "expires_in": 0}),
        )
    });
    let c = p
        .client()
        .pre_registered(service_account("s"))
        .client_credentials()
        .build()
        .unwrap();
    c.authorize().await.unwrap();
    assert_eq!(auth_header(&c, &p).await.as_deref(), Some("Bearer cc-2"));
    let t = p.at("/token");
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].form()["grant_type"], "client_credentials");
}

#[tokio::test]
async fn pre_registered_credentials_bound_to_an_issuer_are_not_sent_to_another() {
    let p = standard_peer().await;
    let c = p
        .client()
        .pre_registered(PreRegistered {
            issuer: Some("https://other-as.example".into()),
            ..service_account("s")
        })
        .client_credentials()
        .build()
        .unwrap();
    let err = c.authorize().await.unwrap_err();
    assert!(
        err.auth_kind() == Some(AuthErrorKind::Unsupported),
        "{err:?}"
    );
    assert!(p.at("/token").is_empty());
}

// ----- scope selection -----------------------------------------------------------------------------------

fn discovered(prm_scopes: Option<Vec<&str>>) -> Discovered {
    Discovered {
        prm: Some(ProtectedResourceMetadata {
            resource: "http://127.0.0.1/mcp".into(),
            authorization_servers: vec!["http://127.0.0.1".into()],
            scopes_supported: prm_scopes.map(|v| v.into_iter().map(str::to_owned).collect()),
        }),
        metadata: AuthorizationServerMetadata::default(),
        from_document: true,
        resource: "http://127.0.0.1/mcp".into(),
    }
}

fn challenge(header: &str) -> Challenge {
    parse_challenges([header]).remove(0)
}

#[test]
fn scopes_come_from_the_challenge_then_the_configuration_then_the_prm() {
    let configured = OAuthClient::builder("http://127.0.0.1/mcp")
        .scopes(["configured"])
        .build()
        .unwrap();
    let plain = OAuthClient::builder("http://127.0.0.1/mcp")
        .build()
        .unwrap();
    let d = discovered(Some(vec!["prm:a", "prm:b"]));
    let c = challenge(r#"Bearer scope="ch:a ch:b""#);
    let no_scope = challenge(r#"Bearer realm="x""#);
    assert_eq!(
        configured.inner.initial_scopes(&d, Some(&c)),
        ["ch:a", "ch:b"]
    );
    assert_eq!(
        configured.inner.initial_scopes(&d, Some(&no_scope)),
        ["configured"]
    );
    assert_eq!(configured.inner.initial_scopes(&d, None), ["configured"]);
    assert_eq!(plain.inner.initial_scopes(&d, None), ["prm:a", "prm:b"]);
    assert!(plain
        .inner
        .initial_scopes(&discovered(None), None)
        .is_empty());
}

#[test]
fn the_bearer_challenge_is_preferred() {
    let cs = parse_challenges([r#"Basic realm="a", Bearer scope="b""#]);
    assert_eq!(super::scopes::pick_challenge(&cs).unwrap().scheme, "Bearer");
    let cs = parse_challenges([r#"Basic realm="a""#]);
    assert_eq!(super::scopes::pick_challenge(&cs).unwrap().scheme, "Basic");
    assert!(super::scopes::pick_challenge(&[]).is_none());
}

#[tokio::test]
async fn offline_access_is_asked_for_only_when_wanted_and_offered() {
    // Offered and wanted (the default): covered by the authorization code test. Not wanted:
    let p = standard_peer().await;
    let c = p.client().offline_access(false).build().unwrap();
    c.authorize().await.unwrap();
    assert_eq!(p.at("/authorize")[0].q("scope"), Some("mcp:read"));
    // Not offered (no refresh_token grant):
    let p = standard_peer().await;
    p.doc(AS_OAUTH, |b| {
        let mut m = as_metadata(b);
        m["grant_types_supported"] = json!(["authorization_code"]);
        m
    });
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    assert_eq!(p.at("/authorize")[0].q("scope"), Some("mcp:read"));
}

#[tokio::test]
async fn step_up_asks_for_the_granted_scopes_plus_the_challenged_ones() {
    let p = standard_peer().await;
    let c = p.client().build().unwrap();
    c.authorize().await.unwrap();
    let refusal = Refusal {
        status: 403,
        challenges: parse_challenges([r#"Bearer error="insufficient_scope", scope="mcp:write""#]),
        dpop_nonce: None,
        url: Url::parse(&p.mcp_url()).unwrap(),
        access_token: Some("at-1".into()),
        attempt: 0,
    };
    assert!(c.refused(&refusal).await.unwrap());
    let a = p.at("/authorize");
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].q("scope"), Some("mcp:read offline_access mcp:write"));
    assert_eq!(c.tokens().unwrap().access_token, "at-2");
    // A 403 to the current token that is not about scope is not retried.
    let other = Refusal {
        challenges: parse_challenges([r#"Bearer error="invalid_token""#]),
        access_token: Some("at-2".into()),
        ..refusal
    };
    assert!(!c.refused(&other).await.unwrap());
    assert_eq!(p.at("/authorize").len(), 2);
}
