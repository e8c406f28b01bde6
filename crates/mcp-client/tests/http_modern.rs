//! Modern (2026-07-28) Streamable HTTP against hand-written servers, era detection over HTTP, and both
//! eras against mcp-server's real HTTP endpoint.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{full, json, sse_message, sse_stream, with_header, Seen, TestHttp};
use mcp_client::transport::{HttpTransport, StaticToken};
use mcp_client::{CallOptions, Client, ClientError, VersionMode};
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

#[tokio::test]
async fn a_broken_modern_stream_is_reissued_with_a_new_id() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let a2 = attempts.clone();
    let http = TestHttp::start(move |s: Seen| {
        let a = a2.clone();
        async move {
            let id = s.body["id"].clone();
            match s.rpc_method() {
                Some("server/discover") => json(200, &discover(&id)),
                Some("tools/call") => {
                    let (tx, resp) = sse_stream();
                    let first = a.fetch_add(1, Ordering::SeqCst) == 0;
                    tokio::spawn(async move {
                        let _ = tx.send(Ok(": working\n\n".into()));
                        if first {
                            let _ = tx.send(Err(std::io::Error::other("cut")));
                        } else {
                            let reply = ok(&id, json!({"resultType": "complete", "content": [{"type": "text", "text": "second try"}]}));
                            let _ = tx.send(Ok(sse_message(None, &reply)));
                        }
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
    let r = client.call_tool("t", json!({"k": 1})).await.unwrap();
    assert_eq!(r.text_content(), "second try");
    let calls = http.calls("tools/call");
    assert_eq!(calls.len(), 2);
    assert_ne!(
        calls[0].body["id"], calls[1].body["id"],
        "re-issued with a new id"
    );
    assert_eq!(calls[0].body["params"], calls[1].body["params"]);
}

#[tokio::test]
async fn cancelling_a_modern_call_closes_its_stream() {
    let closed = Arc::new(tokio::sync::Notify::new());
    let c2 = closed.clone();
    let http = TestHttp::start(move |s: Seen| {
        let closed = c2.clone();
        async move {
            let id = s.body["id"].clone();
            match s.rpc_method() {
                Some("server/discover") => json(200, &discover(&id)),
                Some("tools/call") => {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.cancel();
    });
    let err = client
        .call_tool_with(
            "slow",
            json!({}),
            CallOptions {
                cancel: Some(cancel),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Cancelled), "{err}");
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
            ClientError::Transport(mcp_client::TransportError::Http { status: 401, .. })
        ),
        "{err}"
    );
    assert!(http.calls("initialize").is_empty());
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
    let bound = mcp_server::http::serve_listener(
        server.clone(),
        mcp_server::http::HttpConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let url = format!("http://{}/mcp", bound.local_addr().unwrap());
    tokio::spawn(bound.run());
    (url, server)
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
