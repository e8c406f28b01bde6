//! Bounds and timeouts of the client (issue 13, item 4): every buffer that a server fills has a cap, and every
//! wait has a deadline. Each test fails (or hangs into its timeout) without the bound it checks.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use mcp_client::transport::{
    HttpOptions, HttpTransport, SendOptions, Transport, TransportEvent, TransportKind,
};
use mcp_client::{Client, ClientOptions, Error, ErrorKind, VersionMode};
use mcp_protocol::types::SubscriptionFilter;
use mcp_protocol::{meta, Message, Notification, ProtocolVersion};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{discover_result, eventually, json, result, scripted, Body, Seen, TestHttp};

const LIMIT: Duration = Duration::from_secs(20);

fn modern() -> VersionMode {
    VersionMode::Pinned(ProtocolVersion::LATEST)
}

fn options(f: impl FnOnce(&mut ClientOptions)) -> ClientOptions {
    let mut o = ClientOptions::default();
    f(&mut o);
    o
}

// ----- Client::listen ----------------------------------------------------------------------------------

#[tokio::test]
async fn listen_gives_up_when_the_server_never_acknowledges() {
    let (transport, seen) = scripted(|m| match m["method"].as_str() {
        Some("server/discover") => vec![result(&m["id"], discover_result())],
        // The listen request is accepted and then nothing: no acknowledgement, ever.
        _ => vec![],
    });
    let client = Client::builder()
        .version_mode(modern())
        .options(options(|o| o.request_timeout = Duration::from_millis(300)))
        .connect(transport)
        .await
        .unwrap();
    let start = Instant::now();
    let r = tokio::time::timeout(LIMIT, client.listen(SubscriptionFilter::default()))
        .await
        .expect("listen waited for its acknowledgement forever");
    assert!(
        matches!(&r, Err(e) if e.timeout_after() == Some(Duration::from_millis(300))),
        "{r:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // The abandoned listen is cancelled on the wire.
    eventually("the listen to be cancelled", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|m| m["method"] == "notifications/cancelled")
    })
    .await;
}

fn tagged(method: &str, sub: &Value, params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({ meta::SUBSCRIPTION_ID: sub });
    json!({"jsonrpc": "2.0", "method": method, "params": p})
}

#[tokio::test]
async fn a_subscription_nobody_reads_is_ended_with_an_error_and_the_connection_keeps_working() {
    const BUFFER: usize = 8;
    const FLOOD: usize = 500;
    let sub_id = Arc::new(std::sync::Mutex::new(Value::Null));
    let sid = sub_id.clone();
    let (transport, seen) = scripted(move |m| match m["method"].as_str() {
        Some("server/discover") => vec![result(&m["id"], discover_result())],
        Some("subscriptions/listen") => {
            *sid.lock().unwrap() = m["id"].clone();
            vec![tagged(
                "notifications/subscriptions/acknowledged",
                &m["id"],
                json!({"notifications": {"toolsListChanged": true}}),
            )]
        }
        Some("tools/list") => {
            // The flood comes before the reply on the same ordered stream: once the reply is in, every
            // notification has been routed.
            let sub = sid.lock().unwrap().clone();
            let mut out: Vec<Value> = (0..FLOOD)
                .map(|i| {
                    tagged(
                        "notifications/resources/updated",
                        &sub,
                        json!({"uri": format!("file:///{i}")}),
                    )
                })
                .collect();
            out.push(result(
                &m["id"],
                json!({"resultType": "complete", "tools": []}),
            ));
            out
        }
        _ => vec![],
    });
    let client = Client::builder()
        .version_mode(modern())
        .options(options(|o| o.subscription_buffer = BUFFER))
        .connect(transport)
        .await
        .unwrap();
    let mut sub = tokio::time::timeout(LIMIT, client.listen(SubscriptionFilter::default()))
        .await
        .unwrap()
        .unwrap();
    // Not reading the subscription must not stall the connection.
    let tools = tokio::time::timeout(LIMIT, client.list_tools(None))
        .await
        .expect("an unread subscription stalled the connection")
        .unwrap();
    assert!(tools.tools.is_empty());
    // The overflow ended the listen on the wire.
    eventually("the listen to be cancelled", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|m| m["method"] == "notifications/cancelled")
    })
    .await;
    // The application gets what was held, in order, then the end and why.
    let mut got = Vec::new();
    while let Some(n) = tokio::time::timeout(LIMIT, sub.next())
        .await
        .expect("the overflowed subscription never ended")
    {
        got.push(n.params.unwrap()["uri"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..BUFFER).map(|i| format!("file:///{i}")).collect();
    assert_eq!(got, expected);
    assert!(
        matches!(
            sub.error(),
            Some(e) if e.kind() == ErrorKind::SubscriptionOverflow && e.to_string().contains(&format!("{BUFFER} notifications"))
        ),
        "{:?}",
        sub.error()
    );
}

#[tokio::test]
async fn a_subscription_that_is_read_sees_no_error() {
    let (transport, _seen) = scripted(move |m| match m["method"].as_str() {
        Some("server/discover") => vec![result(&m["id"], discover_result())],
        Some("subscriptions/listen") => vec![
            tagged(
                "notifications/subscriptions/acknowledged",
                &m["id"],
                json!({"notifications": {}}),
            ),
            tagged("notifications/tools/list_changed", &m["id"], json!({})),
            // The server ends the listen normally.
            result(&m["id"], json!({"resultType": "complete"})),
        ],
        _ => vec![],
    });
    let client = Client::builder()
        .version_mode(modern())
        .connect(transport)
        .await
        .unwrap();
    let mut sub = client.listen(SubscriptionFilter::default()).await.unwrap();
    let n = tokio::time::timeout(LIMIT, sub.next()).await.unwrap();
    assert_eq!(n.unwrap().method, "notifications/tools/list_changed");
    assert!(tokio::time::timeout(LIMIT, sub.next())
        .await
        .unwrap()
        .is_none());
    assert!(sub.error().is_none(), "{:?}", sub.error());
}

// ----- the transport's event channel -------------------------------------------------------------------

/// A transport that tries to queue a flood of messages before the client reads any.
struct Flood {
    accepted: Arc<AtomicUsize>,
}

impl Transport for Flood {
    fn kind(&self) -> TransportKind {
        TransportKind::Stream
    }
    fn start(&self, events: mpsc::Sender<TransportEvent>) -> BoxFuture<'_, Result<(), Error>> {
        let mut n = 0;
        while n < 1_000_000 {
            let msg = Message::Notification(Notification::new("notifications/message", None));
            if events.try_send(TransportEvent::Message(msg)).is_err() {
                break;
            }
            n += 1;
        }
        self.accepted.store(n, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn send(&self, _msg: Message, _opts: SendOptions) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Err(Error::from_io(std::io::ErrorKind::BrokenPipe.into())) })
    }
    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn the_transport_event_channel_is_bounded() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let r = tokio::time::timeout(
        LIMIT,
        Client::builder().version_mode(modern()).connect(Flood {
            accepted: accepted.clone(),
        }),
    )
    .await
    .unwrap();
    assert!(r.is_err(), "the flood transport cannot answer");
    let n = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=4096).contains(&n),
        "{n} events queued ahead of the client"
    );
}

// ----- Streamable HTTP: SSE caps and error bodies ------------------------------------------------------

/// A response whose body is `head` then `fill` bytes forever (up to `total`), produced only as fast as the
/// client reads (hyper polls the body when the socket has room); `sent` counts what was produced.
fn endless(
    status: u16,
    content_type: &str,
    head: &'static str,
    total: usize,
    sent: Arc<AtomicUsize>,
) -> http::Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'a'; CHUNK]);
    let stream = futures::stream::unfold((0usize, sent), move |(i, sent)| {
        let chunk = chunk.clone();
        async move {
            let data = if i == 0 {
                Bytes::from_static(head.as_bytes())
            } else if i * CHUNK > total {
                return None;
            } else {
                chunk
            };
            sent.fetch_add(data.len(), Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(Frame::data(data)), (i + 1, sent)))
        }
    });
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

const HUGE: usize = 256 * 1024 * 1024;

async fn http_client(server: &TestHttp, f: impl FnOnce(&mut HttpOptions)) -> Client {
    let mut o = HttpOptions::default();
    f(&mut o);
    let transport = HttpTransport::builder(&server.url)
        .options(o)
        .build()
        .unwrap();
    Client::builder()
        .version_mode(modern())
        .connect(transport)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_sse_event_past_the_cap_fails_the_request_without_buffering_or_reissuing() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let server = TestHttp::start(move |s: Seen| {
        let sent = s2.clone();
        async move {
            match s.rpc_method() {
                Some("server/discover") => json(200, &result(&s.body["id"], discover_result())),
                // One `data` line that never ends.
                _ => endless(200, "text/event-stream", "data: ", HUGE, sent),
            }
        }
    })
    .await;
    let client = http_client(&server, |o| o.max_message_size = 1024 * 1024).await;
    let r = tokio::time::timeout(LIMIT, client.request("test/big", None))
        .await
        .expect("the client kept reading an endless event");
    let Err(e) = &r else { panic!("{r:?}") };
    assert!(e.is_protocol(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("exceeds 1048576 bytes"), "{msg}");
    // The client stopped reading soon after the cap (socket buffers aside), and did not ask again.
    let n = sent.load(Ordering::SeqCst);
    assert!(n < 32 * 1024 * 1024, "{n} bytes read");
    assert_eq!(server.calls("test/big").len(), 1);
}

#[tokio::test]
async fn an_sse_comment_line_past_the_cap_fails_the_request() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let server = TestHttp::start(move |s: Seen| {
        let sent = s2.clone();
        async move {
            match s.rpc_method() {
                Some("server/discover") => json(200, &result(&s.body["id"], discover_result())),
                _ => endless(200, "text/event-stream", ": ", HUGE, sent),
            }
        }
    })
    .await;
    let client = http_client(&server, |_| {}).await;
    let r = tokio::time::timeout(LIMIT, client.request("test/big", None))
        .await
        .expect("the client kept reading an endless line");
    let Err(e) = &r else { panic!("{r:?}") };
    assert!(e.is_protocol(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("line exceeds 65536 bytes"), "{msg}");
    let n = sent.load(Ordering::SeqCst);
    assert!(n < 32 * 1024 * 1024, "{n} bytes read");
}

#[tokio::test]
async fn a_json_reply_past_the_cap_fails_the_request() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let server = TestHttp::start(move |s: Seen| {
        let sent = s2.clone();
        async move {
            match s.rpc_method() {
                Some("server/discover") => json(200, &result(&s.body["id"], discover_result())),
                _ => endless(200, "application/json", "{\"x\": \"", HUGE, sent),
            }
        }
    })
    .await;
    let client = http_client(&server, |o| o.max_message_size = 1024 * 1024).await;
    let r = tokio::time::timeout(LIMIT, client.request("test/big", None))
        .await
        .unwrap();
    let Err(e) = &r else { panic!("{r:?}") };
    assert!(e.is_protocol(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("larger than 1048576 bytes"), "{msg}");
    let n = sent.load(Ordering::SeqCst);
    assert!(n < 32 * 1024 * 1024, "{n} bytes read");
}

#[tokio::test]
async fn an_endless_error_body_is_read_only_up_to_its_cap() {
    let sent = Arc::new(AtomicUsize::new(0));
    let s2 = sent.clone();
    let server = TestHttp::start(move |s: Seen| {
        let sent = s2.clone();
        async move {
            match s.rpc_method() {
                Some("server/discover") => json(200, &result(&s.body["id"], discover_result())),
                _ => endless(500, "text/plain", "oops ", HUGE, sent),
            }
        }
    })
    .await;
    let client = http_client(&server, |_| {}).await;
    let r = tokio::time::timeout(LIMIT, client.request("test/big", None))
        .await
        .expect("the client kept reading an endless error body");
    let Err(e) = &r else { panic!("{r:?}") };
    assert_eq!(e.status(), Some(500), "{e:?}");
    let body = e.http_body().unwrap();
    assert!(body.starts_with("oops aaa"), "{body}");
    let n = sent.load(Ordering::SeqCst);
    assert!(n < 32 * 1024 * 1024, "{n} bytes read");
}

// ----- stdio: a child that stops reading ---------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn requests_to_a_child_that_stopped_reading_time_out_instead_of_hanging() {
    use mcp_client::transport::ChildProcessTransport;
    // Answers the first request (`server/discover`, id 1) with an error the client tolerates, then never
    // reads stdin again: the pipe fills, the client's writer blocks, and its queue fills behind it.
    let script = r#"read line; printf '%s\n' '{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}'; exec sleep 30"#;
    let transport = ChildProcessTransport::command("sh")
        .arg("-c")
        .arg(script)
        .shutdown_grace(Duration::from_millis(200), Duration::from_millis(500))
        .spawn()
        .unwrap();
    let timeout = Duration::from_millis(500);
    let client = Client::builder()
        .version_mode(modern())
        .options(options(|o| o.request_timeout = timeout))
        .connect(transport)
        .await
        .unwrap();
    let pad = "x".repeat(4096);
    let start = Instant::now();
    // 400 × 4 KiB: far more than the pipe (64 KiB) and the client's outbound queue hold.
    let calls = (0..400).map(|i| client.request("test/echo", Some(json!({"i": i, "pad": pad}))));
    let results = tokio::time::timeout(LIMIT, futures::future::join_all(calls))
        .await
        .expect("requests hung on a child that does not read");
    let elapsed = start.elapsed();
    for r in &results {
        assert!(
            matches!(r, Err(e) if e.timeout_after() == Some(timeout)),
            "{r:?}"
        );
    }
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // Closing does not hang on the blocked write either.
    tokio::time::timeout(LIMIT, client.close())
        .await
        .expect("close hung on a child that does not read");
}

#[cfg(unix)]
#[tokio::test]
async fn shutdown_does_not_hang_on_a_write_blocked_by_a_child_that_does_not_read() {
    use mcp_client::transport::{ChildProcessTransport, ShutdownStage};
    let transport = Arc::new(
        ChildProcessTransport::command("sh")
            .arg("-c")
            .arg("exec sleep 30")
            .shutdown_grace(Duration::from_millis(200), Duration::from_millis(500))
            .spawn()
            .unwrap(),
    );
    let (tx, _rx) = mpsc::channel(16);
    transport.start(tx).await.unwrap();
    // One message larger than the pipe: the write blocks for as long as the child does not read.
    let big = Message::Notification(Notification::new(
        "test/big",
        Some(json!({"pad": "x".repeat(1 << 20)})),
    ));
    let t2 = transport.clone();
    let writer = tokio::spawn(async move { t2.send(big, SendOptions::default()).await });
    // Once the write is under way (the pipe is full), shut down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!writer.is_finished(), "the write should be blocked");
    let report = tokio::time::timeout(LIMIT, transport.shutdown())
        .await
        .expect("shutdown hung behind the blocked write");
    assert_eq!(report.stage, ShutdownStage::Terminated);
    // The signal unblocked the write, which failed (it had started: not refused as closed).
    let r = tokio::time::timeout(LIMIT, writer).await.unwrap().unwrap();
    assert!(matches!(&r, Err(e) if e.kind() == ErrorKind::Io), "{r:?}");
}
