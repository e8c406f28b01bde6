//! Faults, with our server and our client over real loopback HTTP: the server restarts and forgets every
//! session, a session expires while its GET stream and a subscription are live, an SSE response is cut
//! mid-way, and the server answers 500. The client must carry on by itself, and a server-side counter proves
//! no tool ever ran twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mcp::client::transport::HttpTransport;
use mcp::client::{Client, ClientEvent, VersionMode};
use mcp::protocol::types::{CallToolResult, Implementation, Tool};
use mcp::protocol::JsonObject;
use mcp::server::http::{serve_listener, HttpConfig, McpService};
use mcp::server::{Error, RequestContext, Server};
use serde_json::json;
use tokio::sync::oneshot;

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        description: Some(name.into()),
        input_schema: json!({"type": "object"}),
        ..Default::default()
    }
}

/// A server whose `count` tool counts its runs in `runs` (shared across restarts).
fn server(runs: Arc<AtomicUsize>) -> Server {
    let polls = runs.clone();
    Server::builder("fault-server", "1.0.0")
        .tool(tool("count"), move |_c: RequestContext, _a: JsonObject| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok::<_, Error>(CallToolResult::text(n.to_string())) }
        })
        .tool(tool("cut"), move |ctx: RequestContext, _a: JsonObject| {
            let polls = polls.clone();
            async move {
                polls.fetch_add(1, Ordering::SeqCst);
                ctx.progress(1.0, Some(2.0), None).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                // The server ends the response stream mid-call; the rest must arrive through a resume.
                ctx.close_sse_stream();
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok::<_, Error>(CallToolResult::text("after the cut"))
            }
        })
        .text_resource("test://watched", "Watched", "text/plain", "v1")
        .build()
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.task.await;
    }
}

async fn start(server: Server, config: HttpConfig, port: u16) -> (u16, Running) {
    let bound = serve_listener(server, config, ([127, 0, 0, 1], port).into())
        .await
        .unwrap();
    let port = bound.local_addr().unwrap().port();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(bound.run_until(async move {
        let _ = rx.await;
    }));
    (
        port,
        Running {
            stop: Some(tx),
            task,
        },
    )
}

async fn legacy_client(url: &str) -> Client {
    Client::builder()
        .client_info(Implementation::new("fault-test", "1.0.0"))
        .version_mode(VersionMode::Legacy)
        .connect(HttpTransport::new(url).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_session_is_invisible_to_the_application() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (port, first) = start(server(runs.clone()), HttpConfig::default(), 0).await;
    let client = legacy_client(&format!("http://127.0.0.1:{port}/mcp")).await;
    let mut events = client.events();
    let old = client.session_id().expect("a legacy session");
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "1"
    );

    // Restart: same port, every session forgotten. A real restart takes a moment, in which the client's pool
    // sees its connections close; without it a request could be written to a dying connection, and a request
    // that may have been sent is never re-sent.
    first.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, second) = start(server(runs.clone()), HttpConfig::default(), port).await;
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "2"
    );
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "3"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3, "no call ran twice");
    let new = client.session_id().expect("a new session");
    assert_ne!(old, new);
    let recovered = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(ClientEvent::SessionRecovered {
                old_session_id,
                new_session_id,
                ..
            }) = events.recv().await
            {
                return (old_session_id, new_session_id);
            }
        }
    })
    .await
    .expect("a SessionRecovered event");
    assert_eq!(recovered, (Some(old), Some(new)));
    client.close().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_refused_by_a_restarted_server_cause_one_reinitialize() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (port, first) = start(server(runs.clone()), HttpConfig::default(), 0).await;
    let client = Arc::new(legacy_client(&format!("http://127.0.0.1:{port}/mcp")).await);
    first.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let opened = Arc::new(AtomicUsize::new(0));
    let o2 = opened.clone();
    let config = HttpConfig::default().on_session_open(Arc::new(move |_: &str| {
        o2.fetch_add(1, Ordering::SeqCst);
    }));
    let (_, second) = start(server(runs.clone()), config, port).await;
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call_tool("count", json!({})).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().expect("each call succeeds after recovery");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 5, "each call ran exactly once");
    assert_eq!(
        opened.load(Ordering::SeqCst),
        1,
        "one re-initialize for all refused calls"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_with_a_live_stream_and_subscription_restores_both() {
    let runs = Arc::new(AtomicUsize::new(0));
    let srv = server(runs.clone());
    let config = HttpConfig::default().session_idle_timeout(Duration::from_millis(400));
    let (port, running) = start(srv.clone(), config, 0).await;
    let client = legacy_client(&format!("http://127.0.0.1:{port}/mcp")).await;
    let mut events = client.events();
    client.subscribe_resource("test://watched").await.unwrap();
    let old = client.session_id();
    tokio::time::sleep(Duration::from_millis(1200)).await; // the session expires while idle
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "1"
    );
    assert_ne!(client.session_id(), old, "a new session");
    // The subscription and the GET stream came back with the new session: an update reaches the client.
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            srv.notify_resource_updated("test://watched");
            match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
                Ok(Ok(ClientEvent::Notification(n)))
                    if n.method == "notifications/resources/updated" =>
                {
                    return n
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("the restored subscription delivers updates");
    assert_eq!(got.params.unwrap()["uri"], "test://watched");
    client.close().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_response_stream_is_resumed_and_delivered_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (port, running) = start(server(runs.clone()), HttpConfig::default(), 0).await;
    let client = legacy_client(&format!("http://127.0.0.1:{port}/mcp")).await;
    let r = client.call_tool("cut", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "after the cut");
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the tool ran once; the client resumed instead of re-sending"
    );
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "2"
    );
    client.close().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_surfaced_and_the_session_is_kept() {
    let runs = Arc::new(AtomicUsize::new(0));
    let svc = McpService::new(server(runs.clone()), HttpConfig::default());
    // A front that answers 500 to any call of the tool named "explode", and passes the rest to our service.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = svc.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let svc = svc.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let bytes = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            if bytes.windows(9).any(|w| w == b"\"explode\"") {
                                let mut r = hyper::Response::new(mcp::server::http::McpBody::full(
                                    Bytes::from_static(b"boom"),
                                ));
                                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                                return Ok::<_, std::convert::Infallible>(r);
                            }
                            Ok(svc
                                .handle(http::Request::from_parts(parts, Full::new(bytes)))
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
    let client = legacy_client(&format!("http://127.0.0.1:{port}/mcp")).await;
    let session = client.session_id();
    let err = client.call_tool("explode", json!({})).await.unwrap_err();
    assert!(!err.is_session_expired(), "a 500 is not expiry: {err}");
    assert_eq!(client.session_id(), session, "the session is kept");
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "1"
    );
    accept.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_listen_stream_reconnects_after_the_server_restarts() {
    use mcp::protocol::types::SubscriptionFilter;
    let runs = Arc::new(AtomicUsize::new(0));
    let (port, first) = start(server(runs.clone()), HttpConfig::default(), 0).await;
    let client = Client::builder()
        .client_info(Implementation::new("fault-test", "1.0.0"))
        .connect(HttpTransport::new(format!("http://127.0.0.1:{port}/mcp")).unwrap())
        .await
        .unwrap();
    assert_eq!(client.era(), mcp::protocol::Era::Modern);
    let mut sub = client
        .listen(SubscriptionFilter {
            tools_list_changed: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    first.stop().await;
    // The server stays down long enough for the client's first re-issue to find the port closed: the
    // client must keep trying instead of ending the subscription.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second_server = server(runs.clone());
    let (_, second) = start(second_server.clone(), HttpConfig::default(), port).await;
    // Keep changing the tool list on the new server until the re-established stream delivers a change.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let mut n = 0;
        loop {
            n += 1;
            second_server.add_tool(
                tool(&format!("late_{n}")),
                |_c: RequestContext, _a: JsonObject| async {
                    Ok::<_, Error>(CallToolResult::text("late"))
                },
            );
            if let Ok(Some(n)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await
            {
                return n;
            }
        }
    })
    .await
    .expect("the listen stream came back after the restart");
    assert_eq!(got.method, "notifications/tools/list_changed");
    client.close().await;
    second.stop().await;
}
