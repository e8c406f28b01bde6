//! Legacy Streamable HTTP against a hand-written server that scripts session expiry, failures and
//! stream cuts.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::mock::{GetMode, LegacyMock};
use mcp_client::transport::{HttpOptions, HttpTransport};
use mcp_client::{Client, ClientEvent, ClientOptions, ErrorKind, VersionMode};
use mcp_protocol::types::{ElicitRequestParams, ElicitResult, LoggingLevel};
use mcp_protocol::{Era, ErrorObject};
use serde_json::json;

async fn connect(url: &str) -> Client {
    connect_with(url, HttpOptions::default()).await
}

async fn connect_with(url: &str, opts: HttpOptions) -> Client {
    let transport = HttpTransport::builder(url).options(opts).build().unwrap();
    Client::builder()
        .version_mode(VersionMode::Legacy)
        .elicitation_handler(|_p: ElicitRequestParams| async move {
            let mut c = serde_json::Map::new();
            c.insert("name".into(), json!("Ada"));
            Ok::<_, ErrorObject>(ElicitResult::accept(c))
        })
        .connect(transport)
        .await
        .unwrap()
}

#[tokio::test]
async fn server_restart_is_recovered_without_the_application_and_nothing_runs_twice() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let mut events = client.events();
    assert_eq!(client.era(), Era::Legacy);
    let first_session = client.session_id().unwrap();
    client.subscribe_resource("file:///watched").await.unwrap();
    client.set_log_level(LoggingLevel::Warning).await.unwrap();
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "run 1"
    );

    mock.restart();
    let r = client.call_tool("count", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "run 2");
    assert_eq!(mock.runs("count"), 2, "the refused call ran exactly once");
    assert_eq!(mock.inits.load(Ordering::SeqCst), 2);
    let second_session = client.session_id().unwrap();
    assert_ne!(first_session, second_session);

    // The new session got the subscription and the log level back, before the refused call was re-sent.
    let subs = mock.subscribes.lock().unwrap().clone();
    assert_eq!(subs.len(), 2);
    assert_eq!(
        subs[1],
        (second_session.clone(), "file:///watched".to_owned())
    );
    let levels = mock.set_levels.lock().unwrap().clone();
    assert_eq!(levels[1], (second_session.clone(), "warning".to_owned()));
    let seen = http.seen();
    let pos = |pred: &dyn Fn(&common::Seen) -> bool| seen.iter().rposition(pred).unwrap();
    let resubscribe = pos(&|s| s.rpc_method() == Some("resources/subscribe"));
    let resent = pos(&|s| s.rpc_method() == Some("tools/call"));
    assert!(resubscribe < resent);
    // The re-initialize carried no session id and the same client identity and capabilities.
    let inits = http.calls("initialize");
    assert_eq!(inits[0].body["params"], inits[1].body["params"]);
    assert!(inits[1].header("mcp-session-id").is_none());

    // The application is told, with the old and new ids and the new server info.
    match events.recv().await.unwrap() {
        ClientEvent::SessionRecovered {
            old_session_id,
            new_session_id,
            server_info,
        } => {
            assert_eq!(old_session_id.as_deref(), Some(first_session.as_str()));
            assert_eq!(new_session_id.as_deref(), Some(second_session.as_str()));
            assert_eq!(server_info.version, "2");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn concurrent_404s_share_one_reinitialize() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    client.call_tool("count", json!({})).await.unwrap();
    mock.restart();
    // Hold the 404s back so all three calls are refused by the dead session at the same time.
    *mock.not_found_delay.lock().unwrap() = Duration::from_millis(150);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call_tool("count", json!({})).await })
        })
        .collect();
    let mut texts = Vec::new();
    for c in calls {
        texts.push(c.await.unwrap().unwrap().text_content());
    }
    texts.sort();
    assert_eq!(texts, ["run 2", "run 3", "run 4"]);
    assert_eq!(
        mock.not_found.load(Ordering::SeqCst),
        3,
        "all three were refused"
    );
    assert_eq!(
        mock.inits.load(Ordering::SeqCst),
        2,
        "exactly one re-initialize"
    );
    assert_eq!(mock.runs("count"), 4, "no call ran twice");
    drop(http);
}

#[tokio::test]
async fn http_500_is_surfaced_and_the_session_kept() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let session = client.session_id();
    let err = client.call_tool("boom", json!({})).await.unwrap_err();
    assert!(
        matches!(
            err,
            ref e if e.status() == Some(500)
        ),
        "{err}"
    );
    assert_eq!(client.session_id(), session);
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "run 1"
    );
    assert_eq!(
        mock.runs("boom"),
        1,
        "a request that may have run is never re-sent"
    );
    assert_eq!(mock.inits.load(Ordering::SeqCst), 1);
    assert!(http
        .calls("tools/call")
        .iter()
        .all(|s| s.header("mcp-session-id") == session.as_deref()));
}

#[tokio::test]
async fn a_stream_broken_without_an_event_id_is_not_resent() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let session = client.session_id();
    let err = client.call_tool("reset", json!({})).await.unwrap_err();
    assert!(err.kind() == ErrorKind::StreamBroken, "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mock.runs("reset"), 1);
    assert_eq!(
        client.session_id(),
        session,
        "a network error never drops the session"
    );
    assert_eq!(mock.inits.load(Ordering::SeqCst), 1);
    drop(http);
}

#[tokio::test]
async fn get_stream_404_or_405_is_not_expiry() {
    for mode in [GetMode::NotFound, GetMode::NotAllowed] {
        let (mock, http) = LegacyMock::start().await;
        *mock.get_mode.lock().unwrap() = mode;
        let client = connect(&http.url).await;
        common::eventually("the GET", || http.seen().iter().any(|s| s.method == "GET")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.call_tool("count", json!({})).await.unwrap();
        assert_eq!(mock.inits.load(Ordering::SeqCst), 1, "{mode:?}");
        assert_eq!(
            http.seen().iter().filter(|s| s.method == "GET").count(),
            1,
            "no retry loop"
        );
        assert!(client.session_id().is_some());
    }
}

#[tokio::test]
async fn the_get_stream_is_opened_after_initialized_with_the_session() {
    let (mock, http) = LegacyMock::start().await;
    *mock.get_mode.lock().unwrap() = GetMode::Open;
    let client = connect(&http.url).await;
    common::eventually("the GET", || http.seen().iter().any(|s| s.method == "GET")).await;
    let seen = http.seen();
    let initialized = seen
        .iter()
        .position(|s| s.rpc_method() == Some("notifications/initialized"))
        .unwrap();
    let get = seen.iter().position(|s| s.method == "GET").unwrap();
    assert!(initialized < get);
    assert_eq!(seen[get].header("accept"), Some("text/event-stream"));
    assert_eq!(
        seen[get].header("mcp-session-id"),
        client.session_id().as_deref()
    );
    assert_eq!(seen[get].header("mcp-protocol-version"), Some("2025-11-25"));
    assert_eq!(
        seen[initialized].header("mcp-protocol-version"),
        Some("2025-11-25")
    );
}

#[tokio::test]
async fn a_cut_reply_stream_is_resumed_after_exactly_retry_ms_and_delivered_once() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let started = Instant::now();
    let r = client.call_tool("cut", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "cut run 1");
    assert_eq!(mock.runs("cut"), 1, "resumed, not re-sent");
    let cut = mock.cut_at.lock().unwrap().unwrap();
    let resumed = mock.resumed.lock().unwrap().clone();
    assert_eq!(resumed.len(), 1);
    assert_eq!(
        resumed[0].0, "ev-1",
        "Last-Event-ID is the priming event's id"
    );
    let waited = resumed[0].1.duration_since(cut);
    assert!(
        waited >= Duration::from_millis(450) && waited <= Duration::from_millis(700),
        "waited {waited:?} for retry: 500"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let get = http
        .seen()
        .into_iter()
        .find(|s| s.method == "GET" && s.header("last-event-id").is_some())
        .unwrap();
    assert_eq!(get.header("mcp-session-id"), client.session_id().as_deref());
}

#[tokio::test]
async fn a_reply_stream_cut_inside_the_answers_event_resumes_from_the_event_before_it() {
    // The answer's `id:` line arrived, its data did not: resuming from that id would skip the answer.
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let r = tokio::time::timeout(Duration::from_secs(5), client.call_tool("torn", json!({})))
        .await
        .expect("the answer came on the resumed stream")
        .unwrap();
    assert_eq!(r.text_content(), "torn run 1");
    assert_eq!(mock.runs("torn"), 1, "resumed, not re-sent");
    let resumed = mock.resumed.lock().unwrap().clone();
    assert_eq!(
        resumed.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["ev-1"],
        "Last-Event-ID is the last event received whole"
    );
}

#[tokio::test]
async fn server_requests_on_the_reply_stream_are_answered_by_post() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    let r = client.call_tool("ask", json!({})).await.unwrap();
    // The handler filled `name`; the schema's defaults filled the rest.
    let content: serde_json::Value = serde_json::from_str(&r.text_content()).unwrap();
    assert_eq!(content, json!({"name": "Ada", "age": 30}));
    let answer = http
        .seen()
        .into_iter()
        .find(|s| s.method == "POST" && s.body.get("result").is_some())
        .unwrap();
    assert_eq!(answer.body["id"], "srv-1");
    assert_eq!(
        answer.header("mcp-session-id"),
        client.session_id().as_deref()
    );
    assert_eq!(mock.runs("ask"), 1);
}

#[tokio::test]
async fn close_deletes_the_session_and_405_is_tolerated() {
    for status in [200, 405] {
        let (mock, http) = LegacyMock::start().await;
        *mock.delete_status.lock().unwrap() = status;
        let client = connect(&http.url).await;
        let session = client.session_id().unwrap();
        client.close().await;
        let deletes: Vec<_> = http
            .seen()
            .into_iter()
            .filter(|s| s.method == "DELETE")
            .collect();
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0].header("mcp-session-id"), Some(session.as_str()));
        assert!(matches!(client.ping().await, Err(e) if e.is_closed()));
    }
}

#[tokio::test]
async fn recovery_that_keeps_failing_ends_in_session_expired() {
    let (mock, http) = LegacyMock::start().await;
    let transport = HttpTransport::new(&http.url).unwrap();
    let client = Client::builder()
        .version_mode(VersionMode::Legacy)
        .options(
            ClientOptions::default()
                .recovery_attempts(2)
                .recovery_backoff(Duration::from_millis(10)),
        )
        .connect(transport)
        .await
        .unwrap();
    let mut events = client.events();
    mock.restart();
    // The server cannot start sessions any more: every initialize fails.
    mock.refuse_init.store(true, Ordering::SeqCst);
    let err = client.call_tool("count", json!({})).await.unwrap_err();
    assert!(err.is_session_expired(), "{err}");
    assert!(matches!(
        events.recv().await.unwrap(),
        ClientEvent::SessionLost { .. }
    ));
    assert_eq!(
        http.calls("initialize").len(),
        3,
        "one initial + two recovery attempts"
    );
    assert_eq!(mock.runs("count"), 0);
    // Once the server is back, the next call recovers.
    mock.refuse_init.store(false, Ordering::SeqCst);
    assert_eq!(
        client
            .call_tool("count", json!({}))
            .await
            .unwrap()
            .text_content(),
        "run 1"
    );
}

#[tokio::test]
async fn ping_works_and_a_refused_notification_is_resent_after_recovery() {
    let (mock, http) = LegacyMock::start().await;
    let client = connect(&http.url).await;
    client.ping().await.unwrap();
    mock.restart();
    client.notify_roots_list_changed().await.unwrap();
    common::eventually("the re-sent notification", || {
        http.calls("notifications/roots/list_changed").len() == 2
    })
    .await;
    assert_eq!(mock.inits.load(Ordering::SeqCst), 2);
    let last = http
        .calls("notifications/roots/list_changed")
        .pop()
        .unwrap();
    assert_eq!(
        last.header("mcp-session-id"),
        client.session_id().as_deref()
    );
}

#[tokio::test]
async fn a_timed_out_legacy_call_closes_its_stream_and_posts_cancelled() {
    let (mock, http) = LegacyMock::start().await;
    *mock.count_delay.lock().unwrap() = Duration::from_secs(3);
    let client = connect(&http.url).await;
    let err = client
        .call_tool_with(
            "count",
            json!({}),
            mcp_client::CallOptions::default().timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    common::eventually("notifications/cancelled", || {
        !http.calls("notifications/cancelled").is_empty()
    })
    .await;
    let call = &http.calls("tools/call")[0];
    let cancelled = &http.calls("notifications/cancelled")[0];
    assert_eq!(cancelled.body["params"]["requestId"], call.body["id"]);
    assert_eq!(
        cancelled.header("mcp-session-id"),
        client.session_id().as_deref()
    );
}
