//! The resource-server side of authorization, with real RS256 tokens signed by test keys and verified against
//! a JWKS: 401 with the right challenge, metadata, expiry, audience, scopes, key rotation, and the principal
//! reaching handlers and binding legacy sessions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_server::auth::{
    AuthConfig, BearerAuth, BearerAuthLayer, JwksSource, JwtVerifier, TokenError,
};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const KEY_A: &str = include_str!("keys/test-key-a.pem");
const KEY_B: &str = include_str!("keys/test-key-b.pem");

fn jwk(kid: &str) -> Jwk {
    let all: Value = serde_json::from_str(include_str!("keys/test-jwks.json")).unwrap();
    serde_json::from_value(all[kid].clone()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(kid: &str, pem: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn good_claims(sub: &str) -> Value {
    json!({"sub": sub, "aud": RESOURCE, "exp": now() + 300, "scope": "mcp:tools profile", "client_id": "app"})
}

fn service(verifier: JwtVerifier) -> BearerAuth<McpService> {
    let server = Server::builder("protected", "1.0.0")
        .tool(
            Tool {
                name: "whoami".into(),
                description: Some("who am I".into()),
                input_schema: json!({"type":"object"}),
                ..Default::default()
            },
            |ctx: RequestContext, _a: mcp_protocol::JsonObject| async move {
                let p = ctx.principal().cloned();
                Ok::<_, Error>(CallToolResult::text(
                    p.map(|p| format!("{} {:?}", p.subject, p.client_id))
                        .unwrap_or_default(),
                ))
            },
        )
        .build();
    let config = AuthConfig::new(RESOURCE, vec!["https://auth.example.com".into()])
        .required_scopes(&["mcp:tools"]);
    BearerAuthLayer::new(Arc::new(verifier), config)
        .layer(McpService::new(server, HttpConfig::default()))
}

fn fixed_verifier() -> JwtVerifier {
    JwtVerifier::with_jwks(
        JwkSet {
            keys: vec![jwk("a")],
        },
        RESOURCE,
    )
}

fn post(token: Option<&str>, session: Option<&str>, body: Value) -> Request<Full<Bytes>> {
    let mut b = Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

async fn send(
    svc: &BearerAuth<McpService>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, Value) {
    let r = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = r.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn init() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})
}

fn whoami() -> Value {
    json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}})
}

#[tokio::test]
async fn no_token_gets_401_with_the_metadata_challenge_and_metadata_is_public() {
    let svc = service(fixed_verifier());
    let (st, h, _) = send(&svc, post(None, None, init())).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let challenge = h["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\""), "{challenge}");
    assert!(challenge.contains("scope=\"mcp:tools\""), "{challenge}");
    let prm = Request::get("http://localhost/.well-known/oauth-protected-resource/mcp")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (st, _, doc) = send(&svc, prm).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(doc["authorization_servers"][0], "https://auth.example.com");
    // A token in the query string is not a token.
    let mut req = post(None, None, init());
    *req.uri_mut() = "http://localhost/mcp?access_token=abc".parse().unwrap();
    assert_eq!(send(&svc, req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_as_the_principal() {
    let svc = service(fixed_verifier());
    let t = token("a", KEY_A, good_claims("alice"));
    let (st, h, _) = send(&svc, post(Some(&t), None, init())).await;
    assert_eq!(st, StatusCode::OK);
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();
    let (st, _, r) = send(&svc, post(Some(&t), Some(&sid), whoami())).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["result"]["content"][0]["text"], "alice Some(\"app\")");
    // The session is bound to alice: bob's valid token cannot use it.
    let bob = token("a", KEY_A, good_claims("bob"));
    assert_eq!(
        send(&svc, post(Some(&bob), Some(&sid), whoami())).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expired_foreign_forged_and_underscoped_tokens_are_refused() {
    let svc = service(fixed_verifier());
    let mut expired = good_claims("alice");
    expired["exp"] = json!(now() - 3600);
    let mut foreign = good_claims("alice");
    foreign["aud"] = json!("https://other.example.com/mcp");
    for (what, t) in [
        ("expired", token("a", KEY_A, expired)),
        ("wrong audience", token("a", KEY_A, foreign)),
        (
            "signed by another key",
            token("a", KEY_B, good_claims("alice")),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ] {
        let (st, h, _) = send(&svc, post(Some(&t), None, init())).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{what}"
        );
    }
    let mut narrow = good_claims("alice");
    narrow["scope"] = json!("profile");
    let (st, h, _) = send(&svc, post(Some(&token("a", KEY_A, narrow)), None, init())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let c = h["www-authenticate"].to_str().unwrap();
    assert!(
        c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"mcp:tools\""),
        "{c}"
    );
}

/// A key source that starts with key `a` and, after the first fetch, rotates in key `b`.
struct Rotating(AtomicUsize);

impl JwksSource for Rotating {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, TokenError>> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        async move {
            let keys = if n == 0 {
                vec![jwk("a")]
            } else {
                vec![jwk("a"), jwk("b")]
            };
            Ok(JwkSet { keys })
        }
        .boxed()
    }
}

#[tokio::test]
async fn key_rotation_is_picked_up_by_refetching_the_jwks() {
    let verifier = JwtVerifier::with_source(Rotating(AtomicUsize::new(0)), RESOURCE)
        .refetch_interval(std::time::Duration::ZERO);
    let svc = service(verifier);
    assert_eq!(
        send(
            &svc,
            post(Some(&token("a", KEY_A, good_claims("alice"))), None, init())
        )
        .await
        .0,
        StatusCode::OK
    );
    // A token signed with the new key: unknown kid, one refetch, accepted.
    assert_eq!(
        send(
            &svc,
            post(Some(&token("b", KEY_B, good_claims("alice"))), None, init())
        )
        .await
        .0,
        StatusCode::OK
    );
}

/// A tiny RFC 7662 endpoint: token "good" is active for this server, "foreign" for another, anything else
/// inactive. It insists on the resource server's own client credentials.
async fn introspection_endpoint() -> String {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let authed = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            == Some("Basic cnM6c2VjcmV0"); // rs:secret
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let form = String::from_utf8_lossy(&body).into_owned();
                        let doc = if !authed {
                            json!({"active": false})
                        } else if form.contains("token=good") {
                            json!({"active": true, "sub": "carol", "scope": "mcp:tools", "aud": RESOURCE, "exp": now() + 60, "client_id": "cli"})
                        } else if form.contains("token=foreign") {
                            json!({"active": true, "sub": "carol", "scope": "mcp:tools", "aud": "https://elsewhere/mcp", "exp": now() + 60})
                        } else {
                            json!({"active": false})
                        };
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(doc.to_string()),
                        )))
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    url
}

#[tokio::test]
async fn introspection_verifier_checks_activity_and_audience() {
    use mcp_server::auth::{IntrospectionVerifier, TokenVerifier};
    let url = introspection_endpoint().await;
    let v = IntrospectionVerifier::new(url, "rs", "secret", RESOURCE);
    let ok = v.verify("good").await.unwrap();
    assert_eq!(
        (ok.subject.as_str(), ok.scopes.clone()),
        ("carol", vec!["mcp:tools".to_string()])
    );
    assert_eq!(
        v.verify("foreign").await.unwrap_err(),
        TokenError::WrongAudience
    );
    assert!(matches!(
        v.verify("revoked").await.unwrap_err(),
        TokenError::InvalidToken(_)
    ));
}

/// A server whose scopes depend on the tool, resource or prompt.
fn scoped_service() -> BearerAuth<McpService> {
    let tool = |name: &str| Tool {
        name: name.into(),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    };
    let server = Server::builder("protected", "1.0.0")
        .tool(
            tool("whoami"),
            |_c: RequestContext, _a: mcp_protocol::JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("you"))
            },
        )
        .tool(
            tool("delete_all"),
            |_c: RequestContext, _a: mcp_protocol::JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("deleted"))
            },
        )
        .build();
    let config = AuthConfig::new(RESOURCE, vec!["https://auth.example.com".into()])
        .required_scopes(&["mcp:tools"])
        .tool_scopes("delete_all", &["files:write"])
        .resource_scopes("secret://vault", &["secrets:read"])
        .prompt_scopes("admin_report", &["admin"]);
    BearerAuthLayer::new(Arc::new(fixed_verifier()), config)
        .layer(McpService::new(server, HttpConfig::default()))
}

fn call(id: u64, tool: &str) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})
}

fn with_scopes(scope: &str) -> String {
    let mut c = good_claims("alice");
    c["scope"] = json!(scope);
    token("a", KEY_A, c)
}

fn assert_insufficient(h: &http::HeaderMap, scopes: &str) {
    let c = h["www-authenticate"].to_str().unwrap();
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(c.contains(&format!("scope=\"{scopes}\"")), "{c}");
    assert!(c.contains("resource_metadata=\""), "{c}");
}

#[tokio::test]
async fn per_tool_resource_and_prompt_scopes() {
    let svc = scoped_service();
    let narrow = with_scopes("mcp:tools profile");
    let (st, h, _) = send(&svc, post(Some(&narrow), None, init())).await;
    assert_eq!(st, StatusCode::OK);
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();

    // Tools that need nothing more stay callable.
    let (st, _, r) = send(&svc, post(Some(&narrow), Some(&sid), call(2, "whoami"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["result"]["content"][0]["text"], "you");

    // The guarded tool, resource and prompt: 403 naming every scope the request needs.
    let (st, h, _) = send(&svc, post(Some(&narrow), Some(&sid), call(3, "delete_all"))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_insufficient(&h, "mcp:tools files:write");
    let read =
        json!({"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"secret://vault"}});
    let (st, h, _) = send(&svc, post(Some(&narrow), Some(&sid), read)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_insufficient(&h, "mcp:tools secrets:read");
    let prompt =
        json!({"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"admin_report"}});
    let (st, h, _) = send(&svc, post(Some(&narrow), Some(&sid), prompt)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_insufficient(&h, "mcp:tools admin");

    // With the scope, the same session runs the tool.
    let wide = with_scopes("mcp:tools files:write");
    let (st, _, r) = send(&svc, post(Some(&wide), Some(&sid), call(6, "delete_all"))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["result"]["content"][0]["text"], "deleted");
}

#[tokio::test]
async fn per_item_scopes_cover_batches_and_keep_bad_input_a_protocol_error() {
    let svc = scoped_service();
    let narrow = with_scopes("mcp:tools");
    let init_0326 = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let (st, h, _) = send(&svc, post(Some(&narrow), None, init_0326)).await;
    assert_eq!(st, StatusCode::OK);
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();
    let mut req = post(
        Some(&narrow),
        Some(&sid),
        json!([call(2, "whoami"), call(3, "delete_all")]),
    );
    req.headers_mut()
        .insert("mcp-protocol-version", "2025-03-26".parse().unwrap());
    let (st, h, body) = send(&svc, req).await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "one guarded call refuses the batch"
    );
    assert_insufficient(&h, "mcp:tools files:write");
    // Nothing of a refused batch runs: a client that re-authorizes and re-sends it must not run any item twice.
    assert!(
        !body.to_string().contains("\"you\""),
        "an item of the refused batch ran: {body}"
    );

    // Malformed and odd bodies reach the endpoint, which answers them as it always does.
    let mut bad = post(Some(&narrow), Some(&sid), Value::Null);
    *bad.body_mut() = Full::new(Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":9,"));
    let (st, _, r) = send(&svc, bad).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(r["error"]["code"], -32700);
    let odd = json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":7}});
    let (st, _, _) = send(&svc, post(Some(&narrow), Some(&sid), odd)).await;
    assert_ne!(
        st,
        StatusCode::FORBIDDEN,
        "a name that is not a string names no guarded tool"
    );

    // The metadata advertises every scope, per-item ones included.
    let prm = Request::get("http://localhost/.well-known/oauth-protected-resource/mcp")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (_, _, doc) = send(&svc, prm).await;
    assert_eq!(
        doc["scopes_supported"],
        json!(["mcp:tools", "files:write", "secrets:read", "admin"])
    );
}
