//! The authorization server as a hazard: JWKS and introspection endpoints on 127.0.0.1 that never answer or
//! never stop answering make verification fail within its timeout (503), not hang; introspection answers are
//! cached (one call for repeated and concurrent lookups of a token) and not served past their TTL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mcp_server::auth::{
    AuthConfig, BearerAuthLayer, HttpJwks, IntrospectionVerifier, JwksSource, JwtVerifier,
    TokenError, TokenVerifier,
};
use mcp_server::http::{HttpConfig, McpService};
use mcp_server::Server;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Layer, ServiceExt};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const KEY_A: &str = include_str!("keys/test-key-a.pem");

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt() -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("a".into());
    let claims = json!({"sub": "dana", "aud": RESOURCE, "exp": now() + 300, "scope": "mcp"});
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(KEY_A.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Fails the test rather than hanging it, and says how long the call took.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("verification hung");
    (r, start.elapsed())
}

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, TokenError>) -> String {
    match r {
        Err(TokenError::Unavailable(e)) => e,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Accepts connections and never answers (holding them open).
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    url
}

/// Answers 200 and then streams a body that does not end (until the reader goes away, or 64 MiB).
async fn endless_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
                for _ in 0..1024 {
                    if s.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// A 503 from the layer, not a 401 that would send the client to re-authenticate.
async fn layer_status(verifier: Arc<dyn TokenVerifier>, token: &str) -> StatusCode {
    let config = AuthConfig::new(RESOURCE, vec!["https://auth.example.com".into()]);
    let svc = BearerAuthLayer::new(verifier, config).layer(McpService::new(
        Server::builder("p", "1").build(),
        HttpConfig::default(),
    ));
    let req = Request::post("http://localhost/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string(),
        )))
        .unwrap();
    let (r, _) = bounded(svc.oneshot(req)).await;
    let r = r.unwrap();
    let status = r.status();
    let _ = r.into_body().collect().await;
    status
}

#[tokio::test]
async fn a_jwks_endpoint_that_never_answers_fails_within_the_timeout() {
    let url = silent_endpoint().await;
    let verifier = Arc::new(JwtVerifier::with_source(
        HttpJwks::new(url).timeout(Duration::from_millis(300)),
        RESOURCE,
    ));
    let token = jwt();
    let (r, took) = bounded(verifier.verify(&token)).await;
    let e = assert_unavailable(r);
    assert!(took < Duration::from_secs(3), "took {took:?}: {e}");
    // Until the next fetch is allowed, the keys are still missing: that is a 503 too, at once.
    let (r, took) = bounded(verifier.verify(&token)).await;
    assert_unavailable(r);
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert_eq!(
        layer_status(verifier, &token).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_jwks_fetch_is_bounded_whatever_the_source() {
    struct Stuck;
    impl JwksSource for Stuck {
        fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, TokenError>> {
            std::future::pending().boxed()
        }
    }
    let verifier =
        JwtVerifier::with_source(Stuck, RESOURCE).fetch_timeout(Duration::from_millis(200));
    let (r, took) = bounded(verifier.verify(&jwt())).await;
    assert_unavailable(r);
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn an_endless_jwks_is_cut_off_at_the_size_cap() {
    let url = endless_endpoint().await;
    let verifier = JwtVerifier::with_source(
        HttpJwks::new(url)
            .timeout(Duration::from_secs(60))
            .max_body_size(256 * 1024),
        RESOURCE,
    );
    let (r, took) = bounded(verifier.verify(&jwt())).await;
    let e = assert_unavailable(r);
    assert!(e.contains("exceeds"), "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn an_introspection_endpoint_that_never_answers_fails_within_the_timeout() {
    let url = silent_endpoint().await;
    let verifier = Arc::new(
        IntrospectionVerifier::new(url, "rs", "secret", RESOURCE)
            .timeout(Duration::from_millis(300)),
    );
    let (r, took) = bounded(verifier.verify("opaque")).await;
    assert_unavailable(r);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        layer_status(verifier, "opaque").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn an_endless_introspection_answer_is_cut_off_at_the_size_cap() {
    let url = endless_endpoint().await;
    let verifier =
        IntrospectionVerifier::new(url, "rs", "secret", RESOURCE).timeout(Duration::from_secs(60));
    let (r, took) = bounded(verifier.verify("opaque")).await;
    let e = assert_unavailable(r);
    assert!(e.contains("exceeds"), "{e}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// An RFC 7662 endpoint that counts its calls and answers, per token, whatever document the test set last
/// (inactive when none). Tokens starting with `slow` are answered after 200 ms.
#[derive(Clone, Default)]
struct Introspector {
    calls: Arc<AtomicUsize>,
    docs: Arc<Mutex<HashMap<String, Value>>>,
}

impl Introspector {
    fn set(&self, token: &str, doc: Value) {
        self.docs.lock().unwrap().insert(token.into(), doc);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    async fn start(&self) -> String {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let me = me.clone();
                            async move {
                                me.calls.fetch_add(1, Ordering::SeqCst);
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                let form = String::from_utf8_lossy(&body).into_owned();
                                let token = form
                                    .split('&')
                                    .find_map(|kv| kv.strip_prefix("token="))
                                    .unwrap_or("")
                                    .to_owned();
                                if token.starts_with("slow") {
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                }
                                let doc = me
                                    .docs
                                    .lock()
                                    .unwrap()
                                    .get(&token)
                                    .cloned()
                                    .unwrap_or(json!({"active": false}));
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                    Bytes::from(doc.to_string()),
                                )))
                            }
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
}

fn active(exp: u64) -> Value {
    json!({"active": true, "sub": "erin", "scope": "mcp", "aud": RESOURCE, "exp": exp})
}

#[tokio::test]
async fn repeated_and_concurrent_lookups_of_a_token_make_one_introspection_call() {
    let idp = Introspector::default();
    let url = idp.start().await;
    idp.set("good", active(now() + 300));
    idp.set("slow-good", active(now() + 300));
    let verifier = Arc::new(IntrospectionVerifier::new(url, "rs", "secret", RESOURCE));

    let (r, _) = bounded(verifier.verify("good")).await;
    assert_eq!(r.unwrap().subject, "erin");
    let (r, _) = bounded(verifier.verify("good")).await;
    assert_eq!(r.unwrap().subject, "erin");
    assert_eq!(idp.calls(), 1);

    let lookups: Vec<_> = (0..20)
        .map(|_| {
            let v = verifier.clone();
            tokio::spawn(async move { v.verify("slow-good").await })
        })
        .collect();
    for l in lookups {
        let (r, _) = bounded(l).await;
        assert_eq!(r.unwrap().unwrap().subject, "erin");
    }
    assert_eq!(idp.calls(), 2, "twenty concurrent lookups, one call");

    // A clone shares the cache.
    let clone = (*verifier).clone();
    let (r, _) = bounded(clone.verify("good")).await;
    assert!(r.is_ok());
    assert_eq!(idp.calls(), 2);
}

/// Moves tokio's clock (the one the introspection cache reads) just past `d` without waiting. The clock is
/// paused only for the jump, so the loopback endpoint and the timeouts around it run on real time.
async fn step_over(d: Duration) {
    tokio::time::pause();
    tokio::time::advance(d + Duration::from_millis(1)).await;
    tokio::time::resume();
}

#[tokio::test]
async fn answers_are_not_served_past_their_ttl() {
    let idp = Introspector::default();
    let url = idp.start().await;
    // Long enough that a slow (debug, loaded) run cannot outlive it by accident; the test steps over it.
    let ttl = Duration::from_secs(30);
    let verifier = IntrospectionVerifier::new(url, "rs", "secret", RESOURCE)
        .cache_ttl(ttl)
        .negative_cache_ttl(ttl);
    let verify = |t: &'static str| bounded(verifier.verify(t));

    // Unknown, hence inactive; the refusal is reused for a while, even once the token becomes active.
    assert!(matches!(
        verify("flip").await.0,
        Err(TokenError::InvalidToken(_))
    ));
    idp.set("flip", active(now() + 300));
    assert!(matches!(
        verify("flip").await.0,
        Err(TokenError::InvalidToken(_))
    ));
    assert_eq!(idp.calls(), 1);
    step_over(ttl).await;
    assert!(verify("flip").await.0.is_ok());
    assert_eq!(idp.calls(), 2);

    // Revoked: the active answer is reused for at most its TTL.
    idp.set("flip", json!({"active": false}));
    assert!(verify("flip").await.0.is_ok());
    assert_eq!(idp.calls(), 2);
    step_over(ttl).await;
    assert!(matches!(
        verify("flip").await.0,
        Err(TokenError::InvalidToken(_))
    ));
    assert_eq!(idp.calls(), 3);
}

#[tokio::test]
async fn an_active_answer_is_not_served_past_the_tokens_expiry() {
    let idp = Introspector::default();
    let url = idp.start().await;
    let exp = now() + 1;
    idp.set("short", active(exp));
    let verifier = IntrospectionVerifier::new(url, "rs", "secret", RESOURCE)
        .cache_ttl(Duration::from_secs(60));
    assert!(bounded(verifier.verify("short")).await.0.is_ok());
    assert!(bounded(verifier.verify("short")).await.0.is_ok());
    assert_eq!(idp.calls(), 1);
    // Wait (bounded) until the token's expiry second has passed.
    for _ in 0..30 {
        if now() > exp {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        bounded(verifier.verify("short")).await.0.unwrap_err(),
        TokenError::Expired
    );
    assert_eq!(idp.calls(), 2);
}
