//! The 2024-11-05 HTTP+SSE transport, against our server: explicitly, and as the automatic fallback when a
//! server refuses the Streamable HTTP `initialize`.

use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_client::transport::{HttpTransport, LegacySseTransport};
use mcp_client::{Client, VersionMode};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::{Era, JsonObject};
use mcp_server::http::{serve_listener, HttpConfig, McpBody, McpService, OldSsePaths};
use mcp_server::{Error, RequestContext, Server};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The deprecated transport is off by default; these tests turn it on.
fn old_sse_config() -> HttpConfig {
    HttpConfig::default().old_sse(OldSsePaths::default())
}

fn server() -> Server {
    Server::builder("old-sse-server", "1.0.0")
        .tool(
            Tool {
                name: "echo".into(),
                description: Some("echo".into()),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            |_c: RequestContext, a: JsonObject| async move {
                let text = a
                    .get("text")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                Ok::<_, Error>(CallToolResult::text(format!("echo: {text}")))
            },
        )
        .build()
}

async fn exercise(client: &Client) {
    assert_eq!(client.era(), Era::Legacy);
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(
        tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["echo"]
    );
    let r = client
        .call_tool("echo", json!({"text": "hi"}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "echo: hi");
    client.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_legacy_sse_transport_against_our_server() {
    let bound = serve_listener(server(), old_sse_config(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let port = bound.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bound.run_until(async move {
        let _ = stopped.await;
    }));

    let transport = LegacySseTransport::connect(format!("http://127.0.0.1:{port}/sse"))
        .await
        .unwrap();
    assert!(
        transport.endpoint().contains("/messages?sessionId="),
        "{}",
        transport.endpoint()
    );
    // Our server is dual-era even here; the legacy handshake is what a 2024-11-05 server expects.
    let client = Client::builder()
        .version_mode(VersionMode::Legacy)
        .connect(transport)
        .await
        .unwrap();
    assert_eq!(client.server_info().unwrap().name, "old-sse-server");
    exercise(&client).await;
    client.close().await;

    let _ = stop.send(());
    let _ = task.await;
}

/// A front for our service that refuses every request under `refused` with `status`, as a 2024-11-05 server
/// does, and passes the rest (`GET /sse`, `POST /messages`) through.
async fn old_only_front(status: u16, refused: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    protected_old_only_front(status, refused, None).await
}

/// [`old_only_front`] that also answers 401 to any request without `Authorization: Bearer <accepted>`.
async fn protected_old_only_front(
    status: u16,
    refused: &'static str,
    accepted: Option<Arc<Mutex<String>>>,
) -> (u16, tokio::task::JoinHandle<()>) {
    let svc = McpService::new(server(), old_sse_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let svc = svc.clone();
                        let accepted = accepted.clone();
                        async move {
                            if let Some(token) = accepted {
                                let want = format!("Bearer {}", token.lock().unwrap());
                                let sent = req.headers().get("authorization");
                                if !req.uri().path().starts_with(refused)
                                    && sent.and_then(|v| v.to_str().ok()) != Some(want.as_str())
                                {
                                    let mut r =
                                        hyper::Response::new(McpBody::full(bytes::Bytes::new()));
                                    *r.status_mut() = http::StatusCode::UNAUTHORIZED;
                                    r.headers_mut().insert(
                                        "www-authenticate",
                                        http::HeaderValue::from_static("Bearer"),
                                    );
                                    return Ok::<_, std::convert::Infallible>(r);
                                }
                            }
                            if req.uri().path().starts_with(refused) {
                                let mut r =
                                    hyper::Response::new(McpBody::full(bytes::Bytes::new()));
                                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                                return Ok::<_, std::convert::Infallible>(r);
                            }
                            let (parts, body) = req.into_parts();
                            let bytes = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            Ok(svc
                                .handle(http::Request::from_parts(
                                    parts,
                                    http_body_util::Full::new(bytes),
                                ))
                                .await)
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, accept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_transport_falls_back_to_http_sse_when_initialize_is_refused() {
    for status in [405, 404, 400] {
        let (port, accept) = old_only_front(status, "/mcp").await;
        let transport = std::sync::Arc::new(
            HttpTransport::new(format!("http://127.0.0.1:{port}/mcp")).unwrap(),
        );
        let client = Client::builder()
            .connect_shared(transport.clone())
            .await
            .unwrap_or_else(|e| panic!("HTTP {status}: {e}"));
        assert!(transport.is_legacy_sse(), "HTTP {status}");
        assert_eq!(client.server_info().unwrap().name, "old-sse-server");
        exercise(&client).await;
        client.close().await;
        accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_either_transport_reports_the_original_refusal() {
    let (port, accept) = old_only_front(405, "/").await;
    let err = Client::builder()
        .connect(HttpTransport::new(format!("http://127.0.0.1:{port}/mcp")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ref e if e.status() == Some(405)
        ),
        "{err}"
    );
    accept.abort();
}

/// Hands out whatever token the "authorization server" (the test) currently issues, but only after a
/// refusal: the transport must ask it to re-authorize and send the request again.
struct Rotating {
    issued: Arc<Mutex<String>>,
    held: Mutex<String>,
    refusals: Mutex<u32>,
}

impl mcp_client::auth::AuthProvider for Rotating {
    fn headers<'a>(
        &'a self,
        _method: &'a reqwest::Method,
        _url: &'a reqwest::Url,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>, mcp_client::Error>,
    > {
        let v = format!("Bearer {}", self.held.lock().unwrap());
        Box::pin(async move {
            Ok(vec![(
                reqwest::header::AUTHORIZATION,
                reqwest::header::HeaderValue::from_str(&v).unwrap(),
            )])
        })
    }

    fn refused<'a>(
        &'a self,
        refusal: &'a mcp_client::auth::Refusal,
    ) -> futures::future::BoxFuture<'a, Result<bool, mcp_client::Error>> {
        assert_eq!(refusal.status, 401);
        *self.refusals.lock().unwrap() += 1;
        *self.held.lock().unwrap() = self.issued.lock().unwrap().clone();
        Box::pin(async move { Ok(refusal.attempt == 0) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_sse_transport_reauthorizes_when_refused() {
    let issued = Arc::new(Mutex::new("token-1".to_owned()));
    let (port, accept) = protected_old_only_front(405, "/mcp", Some(issued.clone())).await;
    let provider = Arc::new(Rotating {
        issued: issued.clone(),
        held: Mutex::new("stale".into()),
        refusals: Mutex::new(0),
    });
    let transport = Arc::new(
        HttpTransport::builder(format!("http://127.0.0.1:{port}/mcp"))
            .auth(provider.clone())
            .build()
            .unwrap(),
    );
    let client = Client::builder()
        .connect_shared(transport.clone())
        .await
        .unwrap();
    assert!(transport.is_legacy_sse());
    // The stream's GET was refused once with the stale token, then opened with the new one.
    assert_eq!(*provider.refusals.lock().unwrap(), 1);
    exercise(&client).await;
    // The token is revoked mid-session: the next POST is refused, re-authorized and re-sent.
    *issued.lock().unwrap() = "token-2".into();
    exercise(&client).await;
    assert_eq!(*provider.refusals.lock().unwrap(), 2);
    client.close().await;
    accept.abort();
}
