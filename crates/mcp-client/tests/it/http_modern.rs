//! Modern (2026-07-28) Streamable HTTP against hand-written servers, era detection over HTTP, and both
//! eras against mcp-server's real HTTP endpoint.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{full, json, sse_message, sse_stream, with_header, Seen, TestHttp};
use mcp_client::transport::{HttpTransport, StaticToken};
use mcp_client::{CallOptions, Client, Error, ReissuePolicy, ReissueRequest, VersionMode};
use mcp_protocol::types::{ElicitRequestParams, ElicitResult, SubscriptionFilter, Tool};
use mcp_protocol::{Era, ErrorObject};
use serde_json::{json, Value};

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn discover(id: &Value) -> Value {
    ok(
        id,
        json!({"resultType": "complete", "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
               "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "modern-mock", "version": "1"}}}),
    )
}

fn header_tools() -> Value {
    let s = |h: &str, ty: &str| json!({"type": ty, "x-mcp-header": h});
    json!([
        {"name": "test_custom_headers", "inputSchema": {"type": "object", "properties": {
            "region": s("Region", "string"),
            "priority": s("Priority", "integer"),
            "verbose": {"type": ["boolean", "null"], "x-mcp-header": "Verbose"},
            "non_ascii_val": s("NonAscii", "string"),
            "whitespace_val": s("Whitespace", "string"),
            "empty_val": s("Empty", "string"),
            "method_val": s("Method", "string"),
            "float_val": {"type": "number"},
            "query": {"type": "string"}
        }}},
        {"name": "bad_space", "inputSchema": {"type": "object", "properties": {"a": s("Has Space", "string")}}},
        {"name": "bad_type", "inputSchema": {"type": "object", "properties": {"a": s("A", "object")}}},
        {"name": "bad_dup", "inputSchema": {"type": "object", "properties": {"a": s("X", "string"), "b": s("x", "string")}}},
        {"name": "bad_nested", "inputSchema": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": s("B", "string")}}}}},
        {"name": "valid_tool", "inputSchema": {"type": "object"}}
    ])
}

/// A modern server that answers discover, lists `header_tools`, and echoes calls.
async fn modern_mock() -> TestHttp {
    TestHttp::start(|s: Seen| async move {
        let id = s.body["id"].clone();
        match s.rpc_method() {
            Some("server/discover") => json(200, &discover(&id)),
            Some("tools/list") => json(200, &ok(&id, json!({"resultType": "complete", "tools": header_tools()}))),
            Some("tools/call") => json(200, &ok(&id, json!({"resultType": "complete", "content": [{"type": "text", "text": "ok"}]}))),
            Some("resources/read") => json(200, &ok(&id, json!({"resultType": "complete", "contents": [{"uri": s.body["params"]["uri"], "text": "x"}]}))),
            Some("prompts/get") => json(200, &ok(&id, json!({"resultType": "complete", "messages": []}))),
            _ => json(404, &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})),
        }
    })
    .await
}

#[tokio::test]
async fn modern_posts_carry_standard_and_param_headers() {
    let http = modern_mock().await;
    let transport = HttpTransport::builder(&http.url)
        .header("X-Tenant", "acme")
        .bearer_token(StaticToken("tok-123".into()))
        .build()
        .unwrap();
    let client = Client::builder().connect(transport).await.unwrap();
    assert_eq!(client.era(), Era::Modern);
    assert_eq!(client.server_info().unwrap().name, "modern-mock");

    // Invalid x-mcp-header annotations make a tool invalid: dropped from the list.
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["test_custom_headers", "valid_tool"]);

    client
        .call_tool(
            "test_custom_headers",
            json!({"region": "us-west1", "priority": 42, "verbose": null, "non_ascii_val": "Hello, 世界",
                   "whitespace_val": " padded ", "empty_val": "", "method_val": "POST", "float_val": 2.5, "query": "q"}),
        )
        .await
        .unwrap();
    client
        .read_resource("file:///path/to/file%20name.txt")
        .await
        .unwrap();
    client.get_prompt("test_prompt", None).await.unwrap();

    let seen = http.seen();
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert_eq!(
            s.header("accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(s.header("x-tenant"), Some("acme"));
        assert_eq!(s.header("authorization"), Some("Bearer tok-123"));
        assert!(s.header("mcp-session-id").is_none());
        let version = s.body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str();
        assert_eq!(
            s.header("mcp-protocol-version"),
            version,
            "header equals _meta"
        );
        assert_eq!(s.header("mcp-method"), s.rpc_method());
    }
    let call = &http.calls("tools/call")[0];
    assert_eq!(call.header("mcp-name"), Some("test_custom_headers"));
    assert_eq!(call.header("mcp-param-region"), Some("us-west1"));
    assert_eq!(call.header("mcp-param-priority"), Some("42"));
    assert_eq!(
        call.header("mcp-param-nonascii"),
        Some("=?base64?SGVsbG8sIOS4lueVjA==?=")
    );
    assert_eq!(
        call.header("mcp-param-whitespace"),
        Some("=?base64?IHBhZGRlZCA=?=")
    );
    assert_eq!(call.header("mcp-param-empty"), Some(""));
    assert_eq!(call.header("mcp-param-method"), Some("POST"));
    assert_eq!(call.header("mcp-method"), Some("tools/call"));
    assert!(
        call.header("mcp-param-verbose").is_none(),
        "null → no header"
    );
    let params: Vec<_> = call
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("mcp-param-"))
        .collect();
    assert_eq!(params.len(), 6, "only annotated properties: {params:?}");
    assert_eq!(
        http.calls("resources/read")[0].header("mcp-name"),
        Some("file:///path/to/file%20name.txt")
    );
    assert_eq!(
        http.calls("prompts/get")[0].header("mcp-name"),
        Some("test_prompt")
    );
}

#[tokio::test]
async fn calling_an_unlisted_tool_learns_its_headers_first() {
    let http = modern_mock().await;
    let client = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap();
    client
        .call_tool("test_custom_headers", json!({"region": "eu"}))
        .await
        .unwrap();
    assert_eq!(http.calls("tools/list").len(), 1);
    assert_eq!(
        http.calls("tools/call")[0].header("mcp-param-region"),
        Some("eu")
    );
}

#[tokio::test]
async fn header_mismatch_relists_tools_and_retries_once() {
    let version = Arc::new(AtomicUsize::new(0));
    let v2 = version.clone();
    let http = TestHttp::start(move |s: Seen| {
        let v = v2.clone();
        async move {
            let id = s.body["id"].clone();
            match s.rpc_method() {
                Some("server/discover") => json(200, &discover(&id)),
                Some("tools/list") => {
                    // The second listing reveals a header the first did not have.
                    let props = if v.fetch_add(1, Ordering::SeqCst) == 0 {
                        json!({"region": {"type": "string"}})
                    } else {
                        json!({"region": {"type": "string", "x-mcp-header": "Region"}})
                    };
                    json(200, &ok(&id, json!({"tools": [{"name": "t", "inputSchema": {"type": "object", "properties": props}}]})))
                }
                Some("tools/call") if s.header("mcp-param-region").is_none() => json(
                    400,
                    &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32020, "message": "Header mismatch"}}),
                ),
                Some("tools/call") => json(200, &ok(&id, json!({"content": [{"type": "text", "text": "ok"}]}))),
                _ => full(404, None, ""),
            }
        }
    })
    .await;
    let client = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap();
    client.list_all_tools().await.unwrap();
    let r = client
        .call_tool("t", json!({"region": "eu"}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "ok");
    let calls = http.calls("tools/call");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].header("mcp-param-region"), Some("eu"));
    assert_eq!(http.calls("tools/list").len(), 2);
}

// ----- a reply stream that breaks: re-issue only what is safe to repeat ---------------------------------

/// How many times the cutting server ran each request (`method` or `method:name`).
type Runs = Arc<Mutex<HashMap<String, usize>>>;

fn runs_of(runs: &Runs, key: &str) -> usize {
    runs.lock().unwrap().get(key).copied().unwrap_or(0)
}

/// A modern server that lists `charge` (side-effecting: no annotations), `lookup` (`readOnlyHint`), `upsert`
/// (`idempotentHint`) and `tagged` (annotated, neither hint). Every request it runs is counted; the FIRST run
/// of each key in `cut` does its work and then loses its SSE stream (the connection is aborted) before the
/// result is written. Later runs answer `run N`.
async fn cutting_server(cut: &'static [&'static str]) -> (TestHttp, Runs) {
    let runs: Runs = Arc::default();
    let r2 = runs.clone();
    let http = TestHttp::start(move |s: Seen| {
        let runs = r2.clone();
        async move {
            let id = s.body["id"].clone();
            let method = s.rpc_method().unwrap_or_default().to_owned();
            if method == "server/discover" {
                return json(200, &discover(&id));
            }
            let key = match s.body["params"]["name"].as_str() {
                Some(name) => format!("{method}:{name}"),
                None => method.clone(),
            };
            // The work happens here, before any reply.
            let n = {
                let mut runs = runs.lock().unwrap();
                let n = runs.entry(key.clone()).or_default();
                *n += 1;
                *n
            };
            let result = match method.as_str() {
                "tools/list" => json!({"resultType": "complete", "tools": [
                    {"name": "charge", "inputSchema": {"type": "object"}},
                    {"name": "lookup", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}},
                    {"name": "upsert", "inputSchema": {"type": "object"}, "annotations": {"idempotentHint": true}},
                    {"name": "tagged", "inputSchema": {"type": "object"},
                     "annotations": {"readOnlyHint": false, "idempotentHint": false, "title": "Tagged"}}
                ]}),
                "tools/call" => json!({"resultType": "complete", "content": [{"type": "text", "text": format!("run {n}")}]}),
                _ => return full(404, None, ""),
            };
            let (tx, resp) = sse_stream();
            let cut_now = n == 1 && cut.contains(&key.as_str());
            tokio::spawn(async move {
                let _ = tx.send(Ok(": working\n\n".into()));
                if cut_now {
                    let _ = tx.send(Err(std::io::Error::other("cut")));
                } else {
                    let _ = tx.send(Ok(sse_message(None, &ok(&id, result))));
                }
            });
            resp
        }
    })
    .await;
    (http, runs)
}

async fn connect_with(url: &str, policy: Option<ReissuePolicy>) -> Client {
    let mut b = Client::builder();
    if let Some(p) = policy {
        b = b.reissue_policy(p);
    }
    let client = b.connect(HttpTransport::new(url).unwrap()).await.unwrap();
    assert_eq!(client.era(), Era::Modern);
    client
}

fn assert_outcome_unknown(err: &Error, expected_method: &str) {
    assert!(
        err.is_outcome_unknown(),
        "expected OutcomeUnknown for {expected_method}, got {err:?}"
    );
    assert_eq!(err.method(), Some(expected_method));
    assert!(err.to_string().contains("may or may not have run"), "{err}");
}

#[tokio::test]
async fn a_side_effecting_call_whose_stream_broke_runs_once_and_its_outcome_is_unknown() {
    let (http, runs) = cutting_server(&["tools/call:charge"]).await;
    let client = connect_with(&http.url, None).await;
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_tool("charge", json!({"amount": 5})),
    )
    .await
    .expect("the call ends")
    .unwrap_err();
    assert_outcome_unknown(&err, "tools/call");
    // The transport has given the request up: nothing can re-send it later.
    assert_eq!(runs_of(&runs, "tools/call:charge"), 1, "the tool ran twice");
    assert_eq!(http.calls("tools/call").len(), 1);
}

#[tokio::test]
async fn a_tool_never_listed_or_without_the_hints_is_not_reissued() {
    let (http, runs) = cutting_server(&["tools/call:ghost", "tools/call:tagged"]).await;
    let client = connect_with(&http.url, None).await;
    for tool in ["ghost", "tagged"] {
        let err = tokio::time::timeout(Duration::from_secs(10), client.call_tool(tool, json!({})))
            .await
            .expect("the call ends")
            .unwrap_err();
        assert_outcome_unknown(&err, "tools/call");
        assert_eq!(runs_of(&runs, &format!("tools/call:{tool}")), 1, "{tool}");
    }
}

#[tokio::test]
async fn read_only_and_idempotent_calls_and_lists_are_reissued_with_a_new_id() {
    let (http, runs) =
        cutting_server(&["tools/list", "tools/call:lookup", "tools/call:upsert"]).await;
    let client = connect_with(&http.url, None).await;
    // The listing (cut once, re-issued) teaches the client the annotations.
    let tools = tokio::time::timeout(Duration::from_secs(10), client.list_all_tools())
        .await
        .expect("the list ends")
        .unwrap();
    assert_eq!(tools.len(), 4);
    assert_eq!(runs_of(&runs, "tools/list"), 2);
    for tool in ["lookup", "upsert"] {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            client.call_tool(tool, json!({"k": 1})),
        )
        .await
        .expect("the call ends")
        .unwrap();
        assert_eq!(r.text_content(), "run 2", "{tool}");
        let calls: Vec<_> = http
            .calls("tools/call")
            .into_iter()
            .filter(|c| c.body["params"]["name"] == tool)
            .collect();
        assert_eq!(calls.len(), 2, "{tool}");
        assert_ne!(
            calls[0].body["id"], calls[1].body["id"],
            "re-issued with a new id"
        );
        assert_eq!(calls[0].body["params"], calls[1].body["params"]);
    }
}

#[tokio::test]
async fn the_reissue_policy_can_be_changed() {
    // Always: even the side-effecting tool is re-issued (and runs twice, as asked).
    let (http, runs) = cutting_server(&["tools/call:charge"]).await;
    let client = connect_with(&http.url, Some(ReissuePolicy::Always)).await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_tool("charge", json!({})),
    )
    .await
    .expect("the call ends")
    .unwrap();
    assert_eq!(r.text_content(), "run 2");
    assert_eq!(runs_of(&runs, "tools/call:charge"), 2);

    // Never: not even a list.
    let (http, runs) = cutting_server(&["tools/list"]).await;
    let client = connect_with(&http.url, Some(ReissuePolicy::Never)).await;
    let err = tokio::time::timeout(Duration::from_secs(10), client.list_tools(None))
        .await
        .expect("the list ends")
        .unwrap_err();
    assert_outcome_unknown(&err, "tools/list");
    assert_eq!(runs_of(&runs, "tools/list"), 1);

    // Custom: the default rule plus one tool the application knows to be safe; it sees the annotations.
    let (http, runs) = cutting_server(&["tools/call:charge", "tools/call:lookup"]).await;
    let seen_hint = Arc::new(AtomicUsize::new(0));
    let s2 = seen_hint.clone();
    let policy = ReissuePolicy::custom(move |r: &ReissueRequest<'_>| {
        if r.tool_annotations.and_then(|a| a.read_only_hint) == Some(true) {
            s2.fetch_add(1, Ordering::SeqCst);
            return false;
        }
        r.is_safe() || r.tool_name() == Some("charge")
    });
    let client = connect_with(&http.url, Some(policy)).await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_tool("charge", json!({})),
    )
    .await
    .expect("the call ends")
    .unwrap();
    assert_eq!(r.text_content(), "run 2");
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client.call_tool("lookup", json!({})),
    )
    .await
    .expect("the call ends")
    .unwrap_err();
    assert_outcome_unknown(&err, "tools/call");
    assert_eq!(runs_of(&runs, "tools/call:lookup"), 1);
    assert_eq!(seen_hint.load(Ordering::SeqCst), 1);
}

/// A modern server whose first `subscriptions/listen` stream is acknowledged and then cut; later streams
/// are acknowledged, carry one `tools/list_changed`, and stay open.
async fn cutting_listen_server() -> (TestHttp, Arc<AtomicUsize>) {
    let listens = Arc::new(AtomicUsize::new(0));
    let l2 = listens.clone();
    let http = TestHttp::start(move |s: Seen| {
        let listens = l2.clone();
        async move {
            let id = s.body["id"].clone();
            match s.rpc_method() {
                Some("server/discover") => json(200, &discover(&id)),
                Some("subscriptions/listen") => {
                    let first = listens.fetch_add(1, Ordering::SeqCst) == 0;
                    let tagged = |method: &str, mut params: Value| {
                        params["_meta"] = json!({"io.modelcontextprotocol/subscriptionId": id});
                        json!({"jsonrpc": "2.0", "method": method, "params": params})
                    };
                    let ack = tagged(
                        "notifications/subscriptions/acknowledged",
                        json!({"notifications": {"toolsListChanged": true}}),
                    );
                    let changed = tagged("notifications/tools/list_changed", json!({}));
                    let (tx, resp) = sse_stream();
                    tokio::spawn(async move {
                        let _ = tx.send(Ok(sse_message(None, &ack)));
                        if first {
                            let _ = tx.send(Err(std::io::Error::other("cut")));
                            return;
                        }
                        let _ = tx.send(Ok(sse_message(None, &changed)));
                        tx.closed().await;
                    });
                    resp
                }
                _ => full(404, None, ""),
            }
        }
    })
    .await;
    (http, listens)
}

/// The next notification of `sub` that is not an acknowledgement (a re-issued listen is acknowledged again).
async fn next_change(sub: &mut mcp_client::Subscription) -> Option<String> {
    loop {
        let n = sub.next().await?;
        if n.method != "notifications/subscriptions/acknowledged" {
            return Some(n.method);
        }
    }
}

#[tokio::test]
async fn a_listen_stream_that_breaks_is_reissued_unless_the_policy_says_never() {
    let filter = SubscriptionFilter {
        tools_list_changed: Some(true),
        ..Default::default()
    };
    let (http, listens) = cutting_listen_server().await;
    let client = connect_with(&http.url, None).await;
    let mut sub = client.listen(filter.clone()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), next_change(&mut sub))
        .await
        .expect("a change arrives on the re-issued stream");
    assert_eq!(got.as_deref(), Some("notifications/tools/list_changed"));
    assert_eq!(listens.load(Ordering::SeqCst), 2);

    let (http, listens) = cutting_listen_server().await;
    let client = connect_with(&http.url, Some(ReissuePolicy::Never)).await;
    // The stream breaks right after its acknowledgement: `listen` itself may see the failure first.
    match client.listen(filter).await {
        Ok(mut sub) => {
            let got = tokio::time::timeout(Duration::from_secs(10), next_change(&mut sub))
                .await
                .expect("the subscription ends");
            assert_eq!(got, None, "the subscription ends with its stream");
        }
        Err(e) => assert_outcome_unknown(&e, "subscriptions/listen"),
    }
    assert_eq!(listens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn cancelling_a_modern_call_closes_its_stream() {
    let closed = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let c2 = closed.clone();
    let s2 = started.clone();
    let http = TestHttp::start(move |s: Seen| {
        let closed = c2.clone();
        let started = s2.clone();
        async move {
            let id = s.body["id"].clone();
            match s.rpc_method() {
                Some("server/discover") => json(200, &discover(&id)),
                Some("tools/call") => {
                    started.notify_one();
                    let (tx, resp) = sse_stream();
                    tokio::spawn(async move {
                        let _ = tx.send(Ok(": working\n\n".into()));
                        tx.closed().await;
                        closed.notify_one();
                    });
                    resp
                }
                _ => full(404, None, ""),
            }
        }
    })
    .await;
    let client = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        // Cancel once the server is running the call.
        started.notified().await;
        c.cancel();
    });
    let err = client
        .call_tool_with("slow", json!({}), CallOptions::default().cancel(cancel))
        .await
        .unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    tokio::time::timeout(Duration::from_secs(5), closed.notified())
        .await
        .expect("the server saw the stream close");
    // No notification is POSTed on the modern era.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(http.calls("notifications/cancelled").is_empty());
}

#[tokio::test]
async fn a_400_without_a_modern_error_falls_back_to_initialize() {
    let http = TestHttp::start(|s: Seen| async move {
        let id = s.body["id"].clone();
        match s.rpc_method() {
            // A legacy server: no session id → plain 400.
            Some("server/discover") => full(400, Some("text/plain"), "Bad Request: No valid session ID"),
            Some("initialize") => with_header(
                json(200, &ok(&id, json!({"protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "old", "version": "1"}}))),
                "mcp-session-id",
                "abc",
            ),
            Some("tools/list") => json(200, &ok(&id, json!({"tools": []}))),
            _ => full(202, None, ""),
        }
    })
    .await;
    let client = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap();
    assert_eq!(client.era(), Era::Legacy);
    assert_eq!(client.session_id().as_deref(), Some("abc"));
    client.list_tools(None).await.unwrap();
    let list = &http.calls("tools/list")[0];
    assert_eq!(list.header("mcp-session-id"), Some("abc"));
    assert_eq!(list.header("mcp-protocol-version"), Some("2025-06-18"));
    assert!(list.header("mcp-method").is_none());
}

#[tokio::test]
async fn a_400_with_unsupported_version_is_retried_and_stays_modern() {
    let first = Arc::new(Mutex::new(true));
    let f2 = first.clone();
    let http = TestHttp::start(move |s: Seen| {
        let first = f2.clone();
        async move {
            let id = s.body["id"].clone();
            let mut f = first.lock().unwrap();
            if *f {
                // The conformance suite's request-metadata mock refuses the first POST.
                *f = false;
                return json(
                    400,
                    &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32022, "message": "Unsupported protocol version",
                            "data": {"supported": ["2026-07-28"], "requested": "2026-07-28"}}}),
                );
            }
            json(200, &discover(&id))
        }
    })
    .await;
    let client = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap();
    assert_eq!(client.era(), Era::Modern);
    let posts = http.seen();
    assert_eq!(posts.len(), 2);
    assert_ne!(posts[0].body["id"], posts[1].body["id"]);
    assert_eq!(posts[1].header("mcp-protocol-version"), Some("2026-07-28"));
}

#[tokio::test]
async fn an_auth_failure_on_the_probe_is_an_error_not_a_legacy_server() {
    let http = TestHttp::start(|_s: Seen| async move {
        with_header(
            full(401, None, ""),
            "www-authenticate",
            "Bearer resource_metadata=\"x\"",
        )
    })
    .await;
    let err = Client::builder()
        .connect(HttpTransport::new(&http.url).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ref e if e.status() == Some(401)
        ),
        "{err}"
    );
    assert!(http.calls("initialize").is_empty());
}

// ----- against mcp-server, through a proxy that cuts the connection ---------------------------------------

/// A loopback TCP proxy to `upstream`; [`Proxy::cut`] aborts every connection open at that moment (new ones
/// are still accepted), as a restart, a deploy or a load balancer would.
struct Proxy {
    url: String,
    cut: Arc<Mutex<tokio_util::sync::CancellationToken>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let cut = Arc::new(Mutex::new(tokio_util::sync::CancellationToken::new()));
        let c2 = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let token = c2.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
        Self { url, cut, task }
    }

    fn cut(&self) {
        let old = std::mem::take(&mut *self.cut.lock().unwrap());
        old.cancel();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// mcp-server answering every request on an SSE stream, with `charge` (side-effecting) and `lookup`
/// (`readOnlyHint`): each counts its runs in `runs`, and its first run blocks after doing its work until the
/// test cuts the connection.
async fn real_cutting_server(runs: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let tool = |name: &str, read_only: bool| Tool {
        name: name.into(),
        input_schema: json!({"type": "object"}),
        annotations: read_only.then(|| mcp_protocol::types::ToolAnnotations {
            read_only_hint: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let handler = move |runs: Arc<AtomicUsize>| {
        move |_ctx: mcp_server::RequestContext, _a: serde_json::Map<String, Value>| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n == 1 {
                    // The work is done; the reply never gets out.
                    std::future::pending::<()>().await;
                }
                Ok::<_, mcp_server::Error>(mcp_protocol::types::CallToolResult::text(format!(
                    "run {n}"
                )))
            }
        }
    };
    let server = mcp_server::Server::builder("cutting", "1.0.0")
        .tool(tool("charge", false), handler(runs.clone()))
        .tool(tool("lookup", true), handler(runs))
        .build();
    // The reply stream is open before the tool runs, so a cut breaks a stream rather than a request.
    let config =
        mcp_server::http::HttpConfig::default().response_mode(mcp_server::http::ResponseMode::Sse);
    let bound = mcp_server::http::serve_listener(server, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = bound.local_addr().unwrap();
    tokio::spawn(bound.run());
    addr
}

#[tokio::test]
async fn against_mcp_server_a_cut_side_effecting_call_runs_once_and_a_read_only_one_is_reissued() {
    for (tool, reissued) in [("charge", false), ("lookup", true)] {
        let runs = Arc::new(AtomicUsize::new(0));
        let proxy = Proxy::start(real_cutting_server(runs.clone()).await).await;
        let client = connect_with(&proxy.url, None).await;
        client.list_all_tools().await.unwrap();
        let call = {
            let client = client.clone();
            tokio::spawn(async move { client.call_tool(tool, json!({})).await })
        };
        common::eventually("the tool ran", || runs.load(Ordering::SeqCst) == 1).await;
        proxy.cut();
        let r = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call ends")
            .unwrap();
        if reissued {
            assert_eq!(r.unwrap().text_content(), "run 2");
            assert_eq!(runs.load(Ordering::SeqCst), 2);
        } else {
            assert_outcome_unknown(&r.unwrap_err(), "tools/call");
            assert_eq!(runs.load(Ordering::SeqCst), 1, "the tool ran twice");
        }
    }
}

// ----- against mcp-server's Streamable HTTP endpoint -------------------------------------------------------

async fn real_server() -> (String, mcp_server::Server) {
    let server = mcp_server::Server::builder("real", "3.0.0")
        .tool(
            Tool {
                name: "whoami".into(),
                input_schema: json!({"type": "object", "properties": {
                    "region": {"type": "string", "x-mcp-header": "Region"}}}),
                ..Default::default()
            },
            |ctx: mcp_server::RequestContext, args: serde_json::Map<String, Value>| async move {
                let a = ctx
                    .elicit(
                        "who",
                        ElicitRequestParams::form(
                            "Who?",
                            json!({"type": "object", "properties": {"name": {"type": "string", "default": "Anon"}}}),
                        ),
                    )
                    .await?;
                Ok::<_, mcp_server::Error>(mcp_protocol::types::CallToolResult::text(format!(
                    "{} in {}",
                    a.content.unwrap_or_default()["name"].as_str().unwrap_or("?"),
                    args.get("region").and_then(Value::as_str).unwrap_or("?")
                )))
            },
        )
        .build();
    (common::http_server(server.clone()).await, server)
}

#[tokio::test]
async fn both_eras_against_the_real_http_server() {
    let (url, server) = real_server().await;
    for mode in [VersionMode::Auto, VersionMode::Legacy] {
        let client = Client::builder()
            .version_mode(mode)
            .elicitation_handler(|_p: ElicitRequestParams| async move {
                Ok::<_, ErrorObject>(ElicitResult::accept(Default::default()))
            })
            .connect(HttpTransport::new(&url).unwrap())
            .await
            .unwrap();
        let era = if mode == VersionMode::Auto {
            Era::Modern
        } else {
            Era::Legacy
        };
        assert_eq!(client.era(), era);
        assert_eq!(client.server_info().unwrap().name, "real");
        assert_eq!(client.session_id().is_some(), era == Era::Legacy);
        assert_eq!(client.list_all_tools().await.unwrap().len(), 1);
        // Modern: MRTR with the Mcp-Param header the server validates; legacy: elicitation over SSE.
        let r = client
            .call_tool("whoami", json!({"region": "eu"}))
            .await
            .unwrap();
        assert_eq!(r.text_content(), "Anon in eu", "{mode:?}");
        if era == Era::Modern {
            let mut sub = client
                .listen(SubscriptionFilter {
                    tools_list_changed: Some(true),
                    ..Default::default()
                })
                .await
                .unwrap();
            server.remove_tool("gone");
            server.add_tool(
                Tool {
                    name: "extra".into(),
                    input_schema: json!({"type": "object"}),
                    ..Default::default()
                },
                |_c: mcp_server::RequestContext, _a| async {
                    Ok::<_, mcp_server::Error>(mcp_protocol::types::CallToolResult::text(""))
                },
            );
            let n = tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n.method, "notifications/tools/list_changed");
            drop(sub);
            server.remove_tool("extra");
        } else {
            client.ping().await.unwrap();
        }
        client.close().await;
    }
}
