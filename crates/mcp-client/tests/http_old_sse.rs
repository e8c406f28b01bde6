//! The 2024-11-05 HTTP+SSE transport, against our server: explicitly, and as the automatic fallback when a
//! server refuses the Streamable HTTP `initialize`.

use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp_client::transport::{HttpTransport, LegacySseTransport};
use mcp_client::{Client, ClientError, TransportError, VersionMode};
use mcp_protocol::types::{CallToolResult, Tool};
use mcp_protocol::{Era, JsonObject};
use mcp_server::http::{serve_listener, HttpConfig, McpBody, McpService};
use mcp_server::{Error, RequestContext, Server};
use serde_json::json;
use tokio::sync::oneshot;

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
    let bound = serve_listener(server(), HttpConfig::default(), ([127, 0, 0, 1], 0).into())
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
    let svc = McpService::new(server(), HttpConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let svc = svc.clone();
                        async move {
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
            ClientError::Transport(TransportError::Http { status: 405, .. })
        ),
        "{err}"
    );
    accept.abort();
}
