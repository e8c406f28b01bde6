//! The client against mcp-server over an in-memory duplex, on both eras, and against scripted peers that
//! check the wire rules exactly.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{discover_result, duplex_server, error, result, scripted, str_map};
use mcp_client::{CallOptions, Client, ClientEvent, ClientOptions, ErrorKind, VersionMode};
use mcp_protocol::types::{
    CallToolResult, CreateMessageParams, CreateMessageResult, ElicitAction, ElicitRequestParams,
    ElicitResult, GetPromptResult, ListRootsResult, LoggingLevel, Prompt, PromptMessage, Root,
    ServerCapabilities, StructuredContentError, SubscriptionFilter, Tool,
};
use mcp_protocol::{Era, ErrorObject, ProtocolVersion};
use mcp_server::{Error, Json, RequestContext, Server, ServerOptions};
use serde_json::{json, Value};

fn defaults_schema() -> Value {
    json!({"type": "object", "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "verified": {"type": "boolean", "default": true}
    }})
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Weather {
    temperature: f64,
    city: String,
}

/// A server with tools that ask the client for input, a structured tool, prompts and resources.
fn fixture(runs: Arc<AtomicUsize>) -> Server {
    let ask_runs = runs.clone();
    Server::builder("fixture", "2.0.0")
        .options(ServerOptions::default().page_size(2))
        .typed_tool("add", "Add", |_ctx, args: Value| async move {
            let (a, b) = (args["a"].as_f64().unwrap_or(0.0), args["b"].as_f64().unwrap_or(0.0));
            Ok::<_, Error>(format!("{}", a + b))
        })
        .tool(
            Tool {
                name: "whoami".into(),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            move |ctx: RequestContext, _args| {
                let runs = ask_runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let answer = ctx
                        .elicit("who", ElicitRequestParams::form("Who are you?", defaults_schema()))
                        .await?;
                    assert_eq!(answer.action, ElicitAction::Accept);
                    let c = answer.content.unwrap_or_default();
                    Ok::<_, Error>(CallToolResult::text(format!(
                        "{} {} {}",
                        c["name"].as_str().unwrap_or("?"),
                        c["age"],
                        c["verified"]
                    )))
                }
            },
        )
        .tool(
            Tool {
                name: "poet".into(),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            |ctx: RequestContext, _args| async move {
                let roots = ctx.list_roots("roots").await?;
                let poem = ctx
                    .sample("poem", CreateMessageParams::user_text("Write a haiku", 50))
                    .await?;
                Ok::<_, Error>(CallToolResult::text(format!(
                    "{} | {}",
                    roots.roots[0].uri,
                    poem.text().unwrap_or_default()
                )))
            },
        )
        .typed_tool("weather", "Structured", |_ctx, _args: Value| async move {
            Ok::<_, Error>(Json(Weather {
                temperature: 21.5,
                city: "Paris".into(),
            }))
        })
        .tool(
            Tool {
                name: "liar".into(),
                input_schema: json!({"type": "object"}),
                output_schema: Some(json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})),
                ..Default::default()
            },
            |_ctx: RequestContext, _args| async move {
                Ok::<_, Error>(CallToolResult::structured(json!({"n": "not a number"})))
            },
        )
        .tool(
            Tool {
                name: "slow".into(),
                input_schema: json!({"type": "object"}),
                ..Default::default()
            },
            |ctx: RequestContext, _args| async move {
                for i in 1..=3 {
                    ctx.progress(i as f64, Some(3.0), None).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok::<_, Error>(CallToolResult::text("done"))
            },
        )
        .prompt(
            Prompt::new("greet"),
            |_ctx: RequestContext, args: mcp_server::PromptArgs| async move {
                Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!(
                    "Hello {}",
                    args.get("name").cloned().unwrap_or_default()
                ))]))
            },
        )
        .text_resource("file:///readme.txt", "readme", "text/plain", "read me")
        .build()
}

fn elicit_with_empty_form() -> impl mcp_client::ElicitationHandler {
    |_p: ElicitRequestParams| async move {
        Ok::<_, ErrorObject>(ElicitResult::accept(Default::default()))
    }
}

fn sampler() -> impl mcp_client::SamplingHandler {
    |p: CreateMessageParams| async move {
        assert_eq!(p.max_tokens, 50);
        Ok::<_, ErrorObject>(CreateMessageResult::assistant_text(
            "test-model",
            "old pond, frog",
        ))
    }
}

fn rooter() -> impl mcp_client::RootsHandler {
    || async move { Ok::<_, ErrorObject>(ListRootsResult::new(vec![Root::new("file:///work")])) }
}

async fn connect(mode: VersionMode, runs: Arc<AtomicUsize>) -> (Client, Server) {
    let server = fixture(runs);
    let client = Client::builder()
        .version_mode(mode)
        .elicitation_handler(elicit_with_empty_form())
        .sampling_handler(sampler())
        .roots_handler(rooter())
        .connect(duplex_server(server.clone()))
        .await
        .unwrap();
    (client, server)
}

#[tokio::test]
async fn both_eras_list_paginate_call_prompts_resources() {
    for mode in [VersionMode::Auto, VersionMode::Legacy] {
        let (client, _server) = connect(mode, Arc::default()).await;
        let expect = if mode == VersionMode::Auto {
            Era::Modern
        } else {
            Era::Legacy
        };
        assert_eq!(client.era(), expect, "{mode:?}");
        assert_eq!(client.server_info().unwrap().name, "fixture");
        assert!(client.server_capabilities().tools.is_some());
        if expect == Era::Legacy {
            assert_eq!(client.protocol_version(), ProtocolVersion::V2025_11_25);
            client.ping().await.unwrap();
        } else {
            assert!(matches!(
                client.ping().await,
                Err(e) if e.is_unsupported()
            ));
        }

        // Page size 2: six tools over three pages.
        let first = client.list_tools(None).await.unwrap();
        assert_eq!(first.tools.len(), 2);
        assert!(first.next_cursor.is_some());
        let all = client.list_all_tools().await.unwrap();
        let names: Vec<_> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["add", "whoami", "poet", "weather", "liar", "slow"]);

        let r = client
            .call_tool("add", json!({"a": 2, "b": 3}))
            .await
            .unwrap();
        assert_eq!(r.text_content(), "5");
        let p = client
            .get_prompt("greet", Some(str_map(&[("name", "Ada")])))
            .await
            .unwrap();
        assert_eq!(p.messages[0].content.as_text(), Some("Hello Ada"));
        assert_eq!(client.list_all_prompts().await.unwrap().len(), 1);
        let res = client.list_all_resources().await.unwrap();
        assert_eq!(res[0].uri, "file:///readme.txt");
        let read = client.read_resource("file:///readme.txt").await.unwrap();
        assert_eq!(read.contents.len(), 1);
        assert!(client
            .list_all_resource_templates()
            .await
            .unwrap()
            .is_empty());
        let unknown = client.call_tool("nope", json!({})).await.unwrap_err();
        assert_eq!(unknown.code(), Some(-32602));
        client.close().await;
    }
}

#[tokio::test]
async fn modern_mrtr_runs_the_elicitation_handler_and_applies_defaults() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (client, _s) = connect(VersionMode::Auto, runs.clone()).await;
    assert_eq!(client.era(), Era::Modern);
    let r = client.call_tool("whoami", json!({})).await.unwrap();
    // The user accepted an empty form: every field took the schema's default (SEP-1034).
    assert_eq!(r.text_content(), "John Doe 30 true");
    // Modern: the handler ran once without the answer and once with it.
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn legacy_server_requests_reach_the_same_handlers() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (client, _s) = connect(VersionMode::Legacy, runs.clone()).await;
    assert_eq!(client.era(), Era::Legacy);
    let r = client.call_tool("whoami", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "John Doe 30 true");
    // Legacy: a real elicitation/create request; the handler ran once.
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let r = client.call_tool("poet", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "file:///work | old pond, frog");
}

#[tokio::test]
async fn modern_mrtr_sampling_and_roots() {
    let (client, _s) = connect(VersionMode::Auto, Arc::default()).await;
    let r = client.call_tool("poet", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "file:///work | old pond, frog");
}

#[tokio::test]
async fn a_typed_tool_output_reads_back_as_a_type_on_the_client() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Seen {
        temperature: f64,
        city: String,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Other {
        humidity: u8,
    }
    for mode in [VersionMode::Auto, VersionMode::Legacy] {
        let (client, _s) = connect(mode, Arc::default()).await;
        let r = client.call_tool("weather", json!({})).await.unwrap();
        assert_eq!(
            r.structured_as::<Seen>().unwrap(),
            Seen {
                temperature: 21.5,
                city: "Paris".into()
            },
            "{mode:?}"
        );
        let wrong = r.structured_as::<Other>().unwrap_err();
        assert!(
            matches!(wrong, StructuredContentError::Shape(_))
                && wrong.to_string().contains("humidity"),
            "{wrong}"
        );
        let plain = client
            .call_tool("add", json!({"a": 2, "b": 3}))
            .await
            .unwrap();
        assert!(matches!(
            plain.into_structured::<Seen>(),
            Err(StructuredContentError::Missing)
        ));
    }
}

#[tokio::test]
async fn structured_content_is_validated_against_output_schema() {
    // mcp-server checks its own output, so a scripted server plays the liar.
    for modern in [true, false] {
        let (transport, _seen) = scripted(move |m| {
            let id = &m["id"];
            let tool = json!({"name": "t", "inputSchema": {"type": "object"},
                "outputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}});
            match (
                m["method"].as_str(),
                m["params"]["arguments"]["mode"].as_str(),
            ) {
                (Some("server/discover"), _) if modern => vec![result(id, discover_result())],
                (Some("server/discover"), _) => vec![error(id, -32601, "no", None)],
                (Some("initialize"), _) => vec![result(
                    id,
                    json!({"protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}}, "serverInfo": {"name": "s", "version": "1"}}),
                )],
                (Some("tools/list"), _) => vec![result(id, json!({"tools": [tool]}))],
                (Some("tools/call"), Some("good")) => vec![result(
                    id,
                    json!({"content": [], "structuredContent": {"n": 1}}),
                )],
                (Some("tools/call"), Some("bad")) => vec![result(
                    id,
                    json!({"content": [], "structuredContent": {"n": "one"}}),
                )],
                (Some("tools/call"), Some("missing")) => vec![result(id, json!({"content": []}))],
                (Some("tools/call"), Some("error")) => {
                    vec![result(id, json!({"content": [], "isError": true}))]
                }
                _ => vec![],
            }
        });
        let client = Client::builder().connect(transport).await.unwrap();
        assert_eq!(client.era() == Era::Modern, modern);
        // Before listing, the schema is unknown and nothing is checked.
        client.call_tool("t", json!({"mode": "bad"})).await.unwrap();
        client.list_all_tools().await.unwrap();
        let ok = client
            .call_tool("t", json!({"mode": "good"}))
            .await
            .unwrap();
        assert_eq!(ok.structured_content.unwrap()["n"], 1);
        for mode in ["bad", "missing"] {
            let err = client
                .call_tool("t", json!({"mode": mode}))
                .await
                .unwrap_err();
            assert!(
                err.kind() == ErrorKind::InvalidResult && err.to_string().contains("outputSchema"),
                "{err}"
            );
        }
        // A tool error is not held to the schema.
        assert!(client
            .call_tool("t", json!({"mode": "error"}))
            .await
            .unwrap()
            .is_error());
    }
}

#[tokio::test]
async fn progress_reaches_the_caller() {
    for mode in [VersionMode::Auto, VersionMode::Legacy] {
        let (client, _s) = connect(mode, Arc::default()).await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let opts = CallOptions::default().progress(tx);
        let r = client
            .call_tool_with("slow", json!({}), opts)
            .await
            .unwrap();
        assert_eq!(r.text_content(), "done");
        let mut seen = Vec::new();
        while let Ok(p) = rx.try_recv() {
            seen.push(p.progress);
        }
        assert_eq!(seen, [1.0, 2.0, 3.0], "{mode:?}");
    }
}

#[tokio::test]
async fn listen_stream_is_demultiplexed_by_subscription() {
    let (client, server) = connect(VersionMode::Auto, Arc::default()).await;
    let mut tools = client
        .listen(SubscriptionFilter {
            tools_list_changed: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tools.acknowledged().tools_list_changed, Some(true));
    let mut res = client
        .listen(SubscriptionFilter {
            resource_subscriptions: Some(vec!["file:///readme.txt".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_ne!(tools.id(), res.id());
    let mut events = client.events();

    server.add_tool(
        Tool {
            name: "late".into(),
            input_schema: json!({"type": "object"}),
            ..Default::default()
        },
        |_c: RequestContext, _a| async { Ok::<_, Error>(CallToolResult::text("late")) },
    );
    server.notify_resource_updated("file:///readme.txt");
    let n = tokio::time::timeout(Duration::from_secs(5), tools.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.method, "notifications/tools/list_changed");
    let n = tokio::time::timeout(Duration::from_secs(5), res.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.method, "notifications/resources/updated");
    assert_eq!(n.params.unwrap()["uri"], "file:///readme.txt");
    // Nothing leaked to the general notification channel.
    assert!(events.try_recv().is_err());
    // Closing one subscription leaves the other working.
    drop(tools);
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.notify_resource_updated("file:///readme.txt");
    assert!(tokio::time::timeout(Duration::from_secs(5), res.next())
        .await
        .unwrap()
        .is_some());
    assert!(client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .any(|t| t.name == "late"));
}

#[tokio::test]
async fn legacy_notifications_go_to_events_and_listen_is_refused() {
    let (client, server) = connect(VersionMode::Legacy, Arc::default()).await;
    let mut events = client.events();
    client
        .subscribe_resource("file:///readme.txt")
        .await
        .unwrap();
    client.set_log_level(LoggingLevel::Info).await.unwrap();
    server.notify_resource_updated("file:///readme.txt");
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        ClientEvent::Notification(n) => assert_eq!(n.method, "notifications/resources/updated"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.listen(SubscriptionFilter::default()).await,
        Err(e) if e.is_unsupported()
    ));
}

// ----- scripted peers: exact wire rules ------------------------------------------------------------------

fn meta_of(v: &Value) -> &Value {
    &v["params"]["_meta"]
}

#[tokio::test]
async fn modern_requests_carry_meta_and_mrtr_follows_the_wire_rules() {
    let (transport, seen) = scripted(|m| {
        let id = &m["id"];
        let params = &m["params"];
        match m["method"].as_str() {
            Some("server/discover") => vec![result(id, discover_result())],
            Some("tools/call") => match params["name"].as_str() {
                Some("echo_state") if params.get("requestState").is_none() => vec![result(
                    id,
                    json!({"resultType": "input_required",
                           "inputRequests": {"confirm": {"method": "elicitation/create", "params": {
                               "message": "Sure?", "requestedSchema": {"type": "object", "properties": {"confirmed": {"type": "boolean"}}}}}},
                           "requestState": "opaque+/=\u{e9}\"state\""}),
                )],
                Some("echo_state") => vec![result(
                    id,
                    json!({"resultType": "complete", "content": [{"type": "text", "text": "confirmed"}]}),
                )],
                Some("no_state") if params.get("inputResponses").is_none() => vec![result(
                    id,
                    json!({"resultType": "input_required", "inputRequests": {"r": {"method": "roots/list"}}}),
                )],
                Some("no_state") => vec![result(
                    id,
                    json!({"content": [{"type": "text", "text": "ok"}]}),
                )],
                Some("no_result_type") => vec![result(
                    id,
                    json!({"content": [{"type": "text", "text": "plain"}]}),
                )],
                Some("weird") => vec![result(id, json!({"resultType": "mystery", "content": []}))],
                Some("forever") => vec![result(
                    id,
                    json!({"resultType": "input_required", "requestState": "again"}),
                )],
                _ => vec![error(id, -32602, "unknown tool", None)],
            },
            _ => vec![],
        }
    });
    let client = Client::builder()
        .client_info(mcp_protocol::types::Implementation::new("wire-test", "9.9"))
        .elicitation_handler(|_p: ElicitRequestParams| async move {
            let mut c = serde_json::Map::new();
            c.insert("confirmed".into(), json!(true));
            Ok::<_, ErrorObject>(ElicitResult::accept(c))
        })
        .roots_handler(rooter())
        .connect(transport)
        .await
        .unwrap();
    assert_eq!(client.era(), Era::Modern);
    assert_eq!(client.server_info().unwrap().name, "scripted");

    let r = client
        .call_tool("echo_state", json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "confirmed");
    let r = client.call_tool("no_state", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "ok");
    let r = client.call_tool("no_result_type", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "plain");
    let e = client.call_tool("weird", json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResult, "{e}");
    let e = client.call_tool("forever", json!({})).await.unwrap_err();
    assert!(e.is_protocol() && e.to_string().contains("8 rounds"), "{e}");

    let seen = seen.lock().unwrap().clone();
    // Every request carries the modern metadata.
    for m in seen.iter().filter(|m| m.get("id").is_some()) {
        let meta = meta_of(m);
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28",
            "{m}"
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"]["elicitation"].is_object());
        assert!(meta["io.modelcontextprotocol/clientCapabilities"]["roots"].is_object());
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"],
            "wire-test"
        );
    }
    assert_eq!(seen[0]["method"], "server/discover");
    let calls: Vec<&Value> = seen
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .collect();
    // echo_state: a retry with a new id, the same arguments, the answer, and the state echoed exactly.
    let (a, b) = (calls[0], calls[1]);
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["params"]["arguments"], json!({"x": 1}));
    assert_eq!(b["params"]["requestState"], "opaque+/=\u{e9}\"state\"");
    assert_eq!(
        b["params"]["inputResponses"]["confirm"],
        json!({"action": "accept", "content": {"confirmed": true}})
    );
    // no_state: the retry has no requestState at all.
    let (c, d) = (calls[2], calls[3]);
    assert!(c["params"].get("inputResponses").is_none());
    assert!(d["params"].get("requestState").is_none());
    assert_eq!(
        d["params"]["inputResponses"]["r"]["roots"][0]["uri"],
        "file:///work"
    );
    // no_result_type: one request, no retry.
    assert_eq!(calls[4]["params"]["name"], "no_result_type");
    assert_eq!(calls[5]["params"]["name"], "weird");
    // forever: the first request plus 8 retries.
    assert_eq!(
        calls
            .iter()
            .filter(|m| m["params"]["name"] == "forever")
            .count(),
        9
    );
}

/// A modern server that refuses the first `method` request with -32022 and answers the next ones with
/// `answer`: the client, and the `method` requests it sent.
async fn refusing_the_first(
    method: &'static str,
    answer: Value,
) -> (Client, impl Fn() -> Vec<Value>) {
    let refused = Arc::new(AtomicUsize::new(0));
    let (transport, seen) = scripted(move |m| {
        let id = &m["id"];
        if m["method"] == method && refused.fetch_add(1, Ordering::SeqCst) == 0 {
            return vec![error(
                id,
                -32022,
                "Unsupported protocol version",
                Some(json!({"supported": ["2026-07-28"], "requested": "2026-07-28"})),
            )];
        }
        match m["method"].as_str() {
            Some("server/discover") => vec![result(id, discover_result())],
            Some(x) if x == method => vec![result(id, answer.clone())],
            _ => vec![],
        }
    });
    let client = Client::builder().connect(transport).await.unwrap();
    let sent = move || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|m| m["method"] == method)
            .cloned()
            .collect()
    };
    (client, sent)
}

#[tokio::test]
async fn unsupported_version_is_retried_once_with_a_common_version() {
    let (client, sent) =
        refusing_the_first("tools/list", json!({"resultType": "complete", "tools": []})).await;
    client.list_tools(None).await.unwrap();
    let lists = sent();
    assert_eq!(lists.len(), 2);
    assert_ne!(lists[0]["id"], lists[1]["id"]);
}

#[tokio::test]
async fn a_call_retried_for_its_version_carries_its_arguments_again() {
    let (client, sent) = refusing_the_first(
        "tools/call",
        json!({"resultType": "complete", "content": [{"type": "text", "text": "done"}]}),
    )
    .await;
    client
        .call_tool("add", json!({"a": 1, "b": [2, 3]}))
        .await
        .unwrap();
    let calls = sent();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c["params"]["name"], "add", "{c}");
        assert_eq!(
            c["params"]["arguments"],
            json!({"a": 1, "b": [2, 3]}),
            "{c}"
        );
    }
}

#[tokio::test]
async fn falls_back_to_initialize_when_discover_is_unknown() {
    let (transport, seen) = scripted(|m| {
        let id = &m["id"];
        match m["method"].as_str() {
            Some("server/discover") => vec![error(id, -32601, "Method not found", None)],
            Some("initialize") => vec![result(
                id,
                json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                       "serverInfo": {"name": "old", "version": "1"}}),
            )],
            Some("tools/list") => vec![result(id, json!({"tools": [], "nextCursor": ""}))],
            _ => vec![],
        }
    });
    let client = Client::builder().connect(transport).await.unwrap();
    assert_eq!(client.era(), Era::Legacy);
    assert_eq!(client.protocol_version(), ProtocolVersion::V2025_06_18);
    // A legacy empty cursor ends pagination.
    assert!(client.list_all_tools().await.unwrap().is_empty());
    let seen = seen.lock().unwrap().clone();
    let methods: Vec<&str> = seen
        .iter()
        .map(|m| m["method"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        methods[..3],
        ["server/discover", "initialize", "notifications/initialized"]
    );
    assert_eq!(seen[1]["params"]["protocolVersion"], "2025-11-25");
    assert!(seen[1]["params"].get("_meta").is_none());
    assert!(
        seen[3]["params"].get("_meta").is_none(),
        "legacy requests carry no modern _meta"
    );
}

#[tokio::test]
async fn falls_back_to_initialize_when_discover_times_out() {
    let (transport, seen) = scripted(|m| {
        let id = &m["id"];
        match m["method"].as_str() {
            // A legacy server that ignores what it does not know.
            Some("initialize") => vec![result(
                id,
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "mute", "version": "1"}}),
            )],
            _ => vec![],
        }
    });
    let client = Client::builder()
        .options(ClientOptions::default().probe_timeout(Duration::from_millis(200)))
        .connect(transport)
        .await
        .unwrap();
    assert_eq!(client.era(), Era::Legacy);
    // The probe timing out is not a cancellation the server must hear about.
    assert!(!seen
        .lock()
        .unwrap()
        .iter()
        .any(|m| m["method"] == "notifications/cancelled"));
}

#[tokio::test]
async fn a_server_offering_an_unknown_legacy_version_is_refused() {
    let (transport, _seen) = scripted(|m| match m["method"].as_str() {
        Some("initialize") => vec![result(
            &m["id"],
            json!({"protocolVersion": "1999-01-01", "capabilities": {}, "serverInfo": {"name": "x", "version": "1"}}),
        )],
        _ => vec![],
    });
    let err = Client::builder()
        .version_mode(VersionMode::Legacy)
        .connect(transport)
        .await
        .unwrap_err();
    assert!(
        err.is_protocol() && err.to_string().contains("1999-01-01"),
        "{err}"
    );
}

#[tokio::test]
async fn cache_honours_ttl_and_list_changed_invalidates() {
    let lists = Arc::new(AtomicUsize::new(0));
    let l2 = lists.clone();
    let reads = Arc::new(AtomicUsize::new(0));
    let r2 = reads.clone();
    let push = Arc::new(Mutex::new(false));
    let push2 = push.clone();
    let (transport, _seen) = scripted(move |m| {
        let id = &m["id"];
        let mut out = Vec::new();
        match m["method"].as_str() {
            Some("server/discover") => out.push(result(id, discover_result())),
            Some("tools/list") => {
                l2.fetch_add(1, Ordering::SeqCst);
                out.push(result(
                    id,
                    json!({"resultType": "complete", "tools": [{"name": "t", "inputSchema": {"type": "object"}}],
                           "ttlMs": 60000, "cacheScope": "public"}),
                ));
            }
            Some("resources/read") => {
                r2.fetch_add(1, Ordering::SeqCst);
                if m["params"]["uri"] == "file:///mrtr"
                    && m["params"].get("inputResponses").is_none()
                {
                    out.push(result(
                        id,
                        json!({"resultType": "input_required",
                        "inputRequests": {"r": {"method": "roots/list"}}, "ttlMs": 60000}),
                    ));
                } else {
                    out.push(result(id, json!({"resultType": "complete",
                        "contents": [{"uri": m["params"]["uri"], "text": "x"}], "ttlMs": 60000, "cacheScope": "private"})));
                }
            }
            Some("tools/call") => {
                out.push(result(id, json!({"resultType": "complete", "content": []})));
                if *push2.lock().unwrap() {
                    out.push(
                        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                    );
                }
            }
            _ => {}
        }
        out
    });
    let client = Client::builder()
        .roots_handler(rooter())
        .connect(transport)
        .await
        .unwrap();
    client.list_tools(None).await.unwrap();
    client.list_tools(None).await.unwrap();
    assert_eq!(
        lists.load(Ordering::SeqCst),
        1,
        "second list served from the cache"
    );
    *push.lock().unwrap() = true;
    let mut events = client.events();
    client.call_tool("t", json!({})).await.unwrap();
    // The client drops the cached list before it reports the notification.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(ClientEvent::Notification(n)))
                if n.method == "notifications/tools/list_changed" =>
            {
                break
            }
            Ok(Ok(_)) => {}
            other => panic!("no list_changed notification: {other:?}"),
        }
    }
    client.list_tools(None).await.unwrap();
    assert_eq!(
        lists.load(Ordering::SeqCst),
        2,
        "list_changed invalidated the cache"
    );

    client.read_resource("file:///a").await.unwrap();
    client.read_resource("file:///a").await.unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    // A read that needed an input round is never cached.
    client.read_resource("file:///mrtr").await.unwrap();
    client.read_resource("file:///mrtr").await.unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn modern_log_level_rides_in_meta() {
    let (transport, seen) = scripted(|m| {
        let id = &m["id"];
        match m["method"].as_str() {
            Some("server/discover") => vec![result(id, discover_result())],
            Some("tools/list") => vec![result(id, json!({"resultType": "complete", "tools": []}))],
            _ => vec![],
        }
    });
    let client = Client::builder()
        .options(ClientOptions::default().cache(false))
        .connect(transport)
        .await
        .unwrap();
    client.set_log_level(LoggingLevel::Warning).await.unwrap();
    client.list_tools(None).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|m| m["method"] == "logging/setLevel"));
    let last = seen.last().unwrap();
    assert_eq!(meta_of(last)["io.modelcontextprotocol/logLevel"], "warning");
}

#[tokio::test]
async fn timeouts_and_cancellation_send_cancelled_on_stdio() {
    let (transport, seen) = scripted(|m| match m["method"].as_str() {
        Some("server/discover") => vec![result(&m["id"], discover_result())],
        _ => vec![], // never answers anything else
    });
    let client = Client::builder().connect(transport).await.unwrap();
    let e = client
        .call_tool_with(
            "hang",
            json!({}),
            CallOptions::default().timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(e.kind(), mcp_client::ErrorKind::Timeout);
    assert_eq!(e.timeout_after(), Some(Duration::from_millis(100)));
    assert!(!e.is_connect() && !e.is_rpc(), "{e:?}");
    let cancel = tokio_util::sync::CancellationToken::new();
    let c2 = cancel.clone();
    let sent = seen.clone();
    tokio::spawn(async move {
        // Cancel once the second call is on the wire.
        common::eventually("the second call", || {
            sent.lock()
                .unwrap()
                .iter()
                .filter(|m| m["method"] == "tools/call")
                .count()
                == 2
        })
        .await;
        c2.cancel();
    });
    let e = client
        .call_tool_with("hang", json!({}), CallOptions::default().cancel(cancel))
        .await
        .unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    common::eventually("two cancellations", || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|m| m["method"] == "notifications/cancelled")
            .count()
            == 2
    })
    .await;
}

#[tokio::test]
async fn a_closed_connection_fails_pending_requests() {
    let (transport, seen) = scripted(|m| match m["method"].as_str() {
        Some("server/discover") => vec![result(&m["id"], discover_result())],
        _ => vec![],
    });
    let client = Client::builder().connect(transport).await.unwrap();
    let c2 = client.clone();
    let call = tokio::spawn(async move { c2.call_tool("hang", json!({})).await });
    common::eventually("the call", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|m| m["method"] == "tools/call")
    })
    .await;
    client.close().await;
    let e = call.await.unwrap().unwrap_err();
    assert!(e.is_closed(), "{e}");
    assert!(matches!(
        client.list_tools(None).await,
        Err(e) if e.is_closed()
    ));
}

#[tokio::test]
async fn pinned_modern_does_not_fall_back() {
    let (transport, _seen) = scripted(|m| {
        vec![error(
            &m["id"],
            -32022,
            "nope",
            Some(json!({"supported": ["2025-11-25"], "requested": "2026-07-28"})),
        )]
    });
    let err = Client::builder()
        .version_mode(VersionMode::Pinned(ProtocolVersion::V2026_07_28))
        .connect(transport)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(-32022));
    let _ = ServerCapabilities::default();
}

#[tokio::test]
async fn server_eof_fails_pending_requests_and_is_reported() {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (r, mut w) = tokio::io::split(server_io);
        let mut lines = tokio::io::BufReader::new(r).lines();
        // Answer the probe, then die while the next request is pending.
        let probe: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let reply = format!("{}\n", result(&probe["id"], discover_result()));
        w.write_all(reply.as_bytes()).await.unwrap();
        let _pending = lines.next_line().await.unwrap();
    });
    let client = Client::builder()
        .connect(mcp_client::transport::StreamTransport::from_duplex(
            client_io,
        ))
        .await
        .unwrap();
    let mut events = client.events();
    let e = client.list_tools(None).await.unwrap_err();
    assert!(e.is_closed(), "{e}");
    assert!(matches!(
        events.recv().await.unwrap(),
        ClientEvent::Closed { .. }
    ));
    assert!(matches!(
        client.list_tools(None).await,
        Err(e) if e.is_closed()
    ));
}
