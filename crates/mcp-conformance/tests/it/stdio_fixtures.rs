//! The conformance fixtures driven through `serve_connection` over an in-memory duplex (stdio framing: one
//! JSON-RPC message per line), on both eras: what the official suite checks, plus the connection's handling
//! of bad input.

use std::time::Duration;

use mcp::protocol::types::{CallToolResult, Tool};
use mcp::protocol::JsonObject;
use mcp::server::{serve_connection, ConnectionOptions, Error, RequestContext, Server};
use mcp_conformance::fixtures::{PNG, WAV};
use mcp_conformance::fixtures_server;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf};

const PV: &str = "io.modelcontextprotocol/protocolVersion";
const CAPS: &str = "io.modelcontextprotocol/clientCapabilities";
const SUB_ID: &str = "io.modelcontextprotocol/subscriptionId";

struct Pipe {
    w: WriteHalf<tokio::io::DuplexStream>,
    r: Lines<BufReader<ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    async fn send_raw(&mut self, line: &str) {
        self.w.write_all(line.as_bytes()).await.unwrap();
        self.w.write_all(b"\n").await.unwrap();
    }
    async fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string()).await;
    }
    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.r.next_line())
            .await
            .expect("no message within 5 s")
            .unwrap()
            .expect("connection closed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }
    /// Receive until the response (result or error) with this id; returns everything seen, the response last.
    async fn until_id(&mut self, id: &Value) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv().await;
            let done = m.get("id") == Some(id) && m.get("method").is_none();
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
    /// Send a request and return its response, dropping notifications on the way.
    async fn call(&mut self, v: Value) -> Value {
        let id = v["id"].clone();
        self.send(v).await;
        self.until_id(&id).await.pop().unwrap()
    }
    /// Send a request and return (messages before the response, response).
    async fn call_all(&mut self, v: Value) -> (Vec<Value>, Value) {
        let id = v["id"].clone();
        self.send(v).await;
        let mut seen = self.until_id(&id).await;
        let last = seen.pop().unwrap();
        (seen, last)
    }
}

fn connect(server: Server, max_message_size: usize) -> Pipe {
    let (client, srv) = tokio::io::duplex(1 << 20);
    let (sr, sw) = tokio::io::split(srv);
    let opts = ConnectionOptions::default().max_message_size(max_message_size);
    tokio::spawn(serve_connection(server, BufReader::new(sr), sw, opts));
    let (cr, cw) = tokio::io::split(client);
    Pipe {
        w: cw,
        r: BufReader::new(cr).lines(),
    }
}

fn req(id: impl Into<Value>, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id.into(),"method":method,"params":params})
}

fn call(id: i64, name: &str, args: Value) -> Value {
    req(id, "tools/call", json!({"name":name,"arguments":args}))
}

/// The text of the first content block of a tool result.
fn text0(resp: &Value) -> &str {
    resp["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {resp}"))
}

/// Initialize a legacy session with the harness's capabilities.
async fn legacy(version: &str) -> Pipe {
    let mut p = connect(fixtures_server(), 1 << 20);
    let r = p
        .call(req(
            0,
            "initialize",
            json!({"protocolVersion":version,"capabilities":{"sampling":{},"elicitation":{}},
                   "clientInfo":{"name":"conformance-test-client","version":"1.0.0"}}),
        ))
        .await;
    assert_eq!(r["result"]["protocolVersion"], version, "{r}");
    let caps = &r["result"]["capabilities"];
    for c in ["tools", "prompts", "logging", "completions"] {
        assert!(caps.get(c).is_some(), "capability {c} missing: {caps}");
    }
    assert_eq!(caps["resources"]["subscribe"], true);
    p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    p
}

/// A modern request: `_meta` with the version and these capabilities, merged with `extra_meta`.
fn modern(
    id: impl Into<Value>,
    method: &str,
    params: Value,
    caps: Value,
    extra_meta: Value,
) -> Value {
    let mut p = params;
    let mut meta = json!({
        PV: "2026-07-28",
        CAPS: caps,
        "io.modelcontextprotocol/clientInfo": {"name":"conformance-test-client","version":"1.0.0"}
    });
    if let Value::Object(extra) = extra_meta {
        for (k, v) in extra {
            meta[k] = v;
        }
    }
    p["_meta"] = meta;
    req(id, method, p)
}

/// A modern request with the harness's usual capabilities.
fn m(id: impl Into<Value>, method: &str, params: Value) -> Value {
    modern(
        id,
        method,
        params,
        json!({"sampling":{},"elicitation":{},"roots":{"listChanged":true}}),
        json!({}),
    )
}

fn mcall(id: impl Into<Value>, name: &str, extra: Value) -> Value {
    let mut params = json!({"name":name,"arguments":{}});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            params[k] = v;
        }
    }
    m(id, "tools/call", params)
}

// ---------------------------------------------------------------------------------------------------------
// Legacy era (2025-11-25 unless noted)
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn legacy_lists_tools_and_calls_the_content_tools() {
    let mut p = legacy("2025-11-25").await;
    let r = p.call(req(1, "tools/list", json!({}))).await;
    let tools = r["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for t in tools {
        let name = t["name"].as_str().unwrap();
        assert!(
            (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c)),
            "bad tool name {name:?}"
        );
        assert!(
            t["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has no description"
        );
        assert_eq!(t["inputSchema"]["type"], "object", "{name}");
    }
    for expected in [
        "test_simple_text",
        "test_image_content",
        "test_audio_content",
        "test_embedded_resource",
        "test_multiple_content_types",
        "test_tool_with_logging",
        "test_error_handling",
        "test_tool_with_progress",
        "test_sampling",
        "test_elicitation",
        "test_elicitation_sep1034_defaults",
        "test_elicitation_sep1330_enums",
        "json_schema_2020_12_tool",
        "test_reconnection",
        "test_missing_capability",
        "test_streaming_elicitation",
        "test_logging_tool",
        "test_trigger_tool_change",
        "test_trigger_prompt_change",
        "test_input_required_result_elicitation",
        "test_input_required_result_sampling",
        "test_input_required_result_list_roots",
        "test_input_required_result_request_state",
        "test_input_required_result_multiple_inputs",
        "test_input_required_result_multi_round",
        "test_input_required_result_tampered_state",
        "test_input_required_result_capabilities",
    ] {
        assert!(names.contains(&expected), "{expected} not listed");
    }
    // The 2020-12 schema is published verbatim.
    let t = tools
        .iter()
        .find(|t| t["name"] == "json_schema_2020_12_tool")
        .unwrap();
    assert_eq!(
        t["inputSchema"],
        mcp_conformance::fixtures::json_schema_2020_12()
    );
    assert_eq!(
        t["inputSchema"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    // A string property annotated x-mcp-header, for http-custom-header-server-validation.
    assert!(
        tools.iter().any(|t| t["inputSchema"]["properties"]
            .as_object()
            .is_some_and(|props| props.values().any(|p| p["type"] == "string"
                && p["x-mcp-header"].as_str().is_some_and(|h| !h.is_empty())))),
        "no tool has an x-mcp-header string property"
    );

    // Called without an `arguments` field, as the harness does.
    let r = p
        .call(req(2, "tools/call", json!({"name":"test_simple_text"})))
        .await;
    assert_eq!(text0(&r), "This is a simple text response for testing.");

    let r = p.call(call(3, "test_image_content", json!({}))).await;
    assert_eq!(
        r["result"]["content"][0],
        json!({"type":"image","data":PNG,"mimeType":"image/png"})
    );
    let r = p.call(call(4, "test_audio_content", json!({}))).await;
    assert_eq!(
        r["result"]["content"][0],
        json!({"type":"audio","data":WAV,"mimeType":"audio/wav"})
    );
    let r = p.call(call(5, "test_embedded_resource", json!({}))).await;
    assert_eq!(
        r["result"]["content"][0],
        json!({"type":"resource","resource":{"uri":"test://embedded-resource","mimeType":"text/plain","text":"This is an embedded resource content."}})
    );
    let r = p
        .call(call(6, "test_multiple_content_types", json!({})))
        .await;
    let c = r["result"]["content"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0]["text"], "Multiple content types test:");
    assert_eq!(c[1]["mimeType"], "image/png");
    assert_eq!(
        c[2]["resource"],
        json!({"uri":"test://mixed-content-resource","mimeType":"application/json","text":"{\"test\":\"data\",\"value\":123}"})
    );

    // A tool error is a result with isError, not a JSON-RPC error.
    let r = p.call(call(7, "test_error_handling", json!({}))).await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["result"]["isError"], true);
    assert!(!text0(&r).is_empty());

    let r = p
        .call(call(8, "test_custom_header", json!({"region":"us-west1"})))
        .await;
    assert!(text0(&r).contains("us-west1"));

    // test_reconnection completes (stdio has no stream to close).
    let r = p.call(call(9, "test_reconnection", json!({}))).await;
    assert!(!text0(&r).is_empty());
}

#[tokio::test]
async fn legacy_utilities_resources_prompts_and_completion() {
    let mut p = legacy("2025-11-25").await;
    // ping and logging/setLevel return exactly {}.
    assert_eq!(p.call(req(1, "ping", json!({}))).await["result"], json!({}));
    assert_eq!(
        p.call(req(2, "logging/setLevel", json!({"level":"info"})))
            .await["result"],
        json!({})
    );

    let r = p.call(req(3, "resources/list", json!({}))).await;
    let uris: Vec<&str> = r["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()));
            r["uri"].as_str().unwrap()
        })
        .collect();
    for u in [
        "test://static-text",
        "test://static-binary",
        "test://watched-resource",
    ] {
        assert!(uris.contains(&u), "{u} not listed");
    }
    let r = p.call(req(4, "resources/templates/list", json!({}))).await;
    assert_eq!(
        r["result"]["resourceTemplates"][0]["uriTemplate"],
        "test://template/{id}/data"
    );

    let r = p
        .call(req(
            5,
            "resources/read",
            json!({"uri":"test://static-text"}),
        ))
        .await;
    assert_eq!(
        r["result"]["contents"][0],
        json!({"uri":"test://static-text","mimeType":"text/plain","text":"This is the content of the static text resource."})
    );
    let r = p
        .call(req(
            6,
            "resources/read",
            json!({"uri":"test://static-binary"}),
        ))
        .await;
    assert_eq!(
        r["result"]["contents"][0],
        json!({"uri":"test://static-binary","mimeType":"image/png","blob":PNG})
    );
    let r = p
        .call(req(
            7,
            "resources/read",
            json!({"uri":"test://template/123/data"}),
        ))
        .await;
    let c = &r["result"]["contents"][0];
    assert_eq!(c["uri"], "test://template/123/data");
    assert_eq!(c["mimeType"], "application/json");
    let body: Value = serde_json::from_str(c["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"id":"123","templateTest":true,"data":"Data for ID: 123"})
    );
    let missing = "test://nonexistent-resource-for-conformance-testing";
    let r = p
        .call(req(8, "resources/read", json!({"uri":missing})))
        .await;
    assert_eq!(r["error"]["code"], -32002, "legacy resource-not-found: {r}");
    assert_eq!(r["error"]["data"]["uri"], missing);

    for (id, method) in [(9, "resources/subscribe"), (10, "resources/unsubscribe")] {
        let r = p
            .call(req(id, method, json!({"uri":"test://watched-resource"})))
            .await;
        assert_eq!(r["result"], json!({}), "{method}");
    }

    let r = p.call(req(11, "prompts/list", json!({}))).await;
    let prompts = r["result"]["prompts"].as_array().unwrap();
    for pr in prompts {
        assert!(
            pr["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{pr}"
        );
    }
    let args = &prompts
        .iter()
        .find(|p| p["name"] == "test_prompt_with_arguments")
        .unwrap()["arguments"];
    assert_eq!(args[0]["name"], "arg1");
    assert_eq!(args[0]["required"], true);
    assert_eq!(args[1]["name"], "arg2");
    assert_eq!(args[1]["required"], true);

    let r = p
        .call(req(12, "prompts/get", json!({"name":"test_simple_prompt"})))
        .await;
    assert_eq!(
        r["result"]["messages"],
        json!([{"role":"user","content":{"type":"text","text":"This is a simple prompt for testing."}}])
    );
    let r = p
        .call(req(
            13,
            "prompts/get",
            json!({"name":"test_prompt_with_arguments","arguments":{"arg1":"testValue1","arg2":"testValue2"}}),
        ))
        .await;
    let text = r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("testValue1") && text.contains("testValue2"),
        "{text}"
    );
    let r = p
        .call(req(
            14,
            "prompts/get",
            json!({"name":"test_prompt_with_arguments","arguments":{"arg1":"only"}}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32602, "missing required argument: {r}");
    let r = p
        .call(req(
            15,
            "prompts/get",
            json!({"name":"test_prompt_with_embedded_resource","arguments":{"resourceUri":"test://example-resource"}}),
        ))
        .await;
    let msgs = &r["result"]["messages"];
    assert_eq!(
        msgs[0]["content"],
        json!({"type":"resource","resource":{"uri":"test://example-resource","mimeType":"text/plain","text":"Embedded resource content for testing."}})
    );
    assert_eq!(
        msgs[1]["content"]["text"],
        "Please process the embedded resource above."
    );
    let r = p
        .call(req(
            16,
            "prompts/get",
            json!({"name":"test_prompt_with_image"}),
        ))
        .await;
    let msgs = &r["result"]["messages"];
    assert_eq!(msgs[0]["content"]["type"], "image");
    assert_eq!(msgs[0]["content"]["mimeType"], "image/png");
    assert!(msgs[0]["content"]["data"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    assert_eq!(
        msgs[1]["content"]["text"],
        "Please analyze the image above."
    );

    let r = p
        .call(req(
            17,
            "completion/complete",
            json!({"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg1","value":"test"}}),
        ))
        .await;
    let values = r["result"]["completion"]["values"].as_array().unwrap();
    assert!(!values.is_empty(), "{r}");
    assert!(values
        .iter()
        .all(|v| v.as_str().unwrap().starts_with("test")));

    // Unknown method: -32601, with the id echoed.
    let r = p.call(req(18, "no/such/method", json!({}))).await;
    assert_eq!(r["error"]["code"], -32601);
    assert_eq!(r["id"], 18);
}

/// Answer the server's next request, which must be `method`; returns its params.
async fn answer(p: &mut Pipe, method: &str, result: Value) -> Value {
    let r = p.recv().await;
    assert_eq!(r["method"], method, "expected a {method} request, got {r}");
    assert!(r.get("id").is_some(), "{r}");
    p.send(json!({"jsonrpc":"2.0","id":r["id"],"result":result}))
        .await;
    r["params"].clone()
}

#[tokio::test]
async fn legacy_elicitation_and_sampling_go_through_real_client_requests() {
    let mut p = legacy("2025-11-25").await;

    p.send(call(
        1,
        "test_elicitation",
        json!({"message":"Please provide your information"}),
    ))
    .await;
    let params = answer(
        &mut p,
        "elicitation/create",
        json!({"action":"accept","content":{"username":"testuser","email":"test@example.com"}}),
    )
    .await;
    assert_eq!(params["message"], "Please provide your information");
    assert_eq!(params["requestedSchema"]["type"], "object");
    let r = p.until_id(&json!(1)).await.pop().unwrap();
    let text = text0(&r);
    assert!(
        text.starts_with("User response: ") && text.contains("testuser"),
        "{text}"
    );

    p.send(call(
        2,
        "test_sampling",
        json!({"prompt":"Test prompt for sampling"}),
    ))
    .await;
    let params = answer(
        &mut p,
        "sampling/createMessage",
        json!({"role":"assistant","content":{"type":"text","text":"This is a test response from the client"},"model":"test-model"}),
    )
    .await;
    assert_eq!(params["maxTokens"], 100);
    assert_eq!(
        params["messages"],
        json!([{"role":"user","content":{"type":"text","text":"Test prompt for sampling"}}])
    );
    let r = p.until_id(&json!(2)).await.pop().unwrap();
    assert_eq!(
        text0(&r),
        "LLM response: This is a test response from the client"
    );

    // SEP-1034 defaults.
    p.send(call(3, "test_elicitation_sep1034_defaults", json!({})))
        .await;
    let params = answer(
        &mut p,
        "elicitation/create",
        json!({"action":"accept","content":{"name":"John Doe","age":30,"score":95.5,"status":"active","verified":true}}),
    )
    .await;
    let props = &params["requestedSchema"]["properties"];
    assert_eq!(props["name"]["default"], "John Doe");
    assert_eq!(props["age"]["type"], "integer");
    assert_eq!(props["age"]["default"], 30);
    assert_eq!(props["score"]["default"], 95.5);
    assert_eq!(
        props["status"]["enum"],
        json!(["active", "inactive", "pending"])
    );
    assert_eq!(props["status"]["default"], "active");
    assert_eq!(props["verified"]["default"], true);
    assert_eq!(params["requestedSchema"]["required"], json!([]));
    let r = p.until_id(&json!(3)).await.pop().unwrap();
    assert!(r.get("result").is_some(), "{r}");

    // SEP-1330 enums.
    p.send(call(4, "test_elicitation_sep1330_enums", json!({})))
        .await;
    let params = answer(&mut p, "elicitation/create", json!({"action":"decline"})).await;
    let props = &params["requestedSchema"]["properties"];
    assert_eq!(
        props["untitledSingle"],
        json!({"type":"string","description":"Choose an option","enum":["option1","option2","option3"]})
    );
    assert!(props["titledSingle"].get("enum").is_none());
    assert_eq!(props["titledSingle"]["oneOf"][0]["const"], "value1");
    assert_eq!(props["titledSingle"]["oneOf"][0]["title"], "First Option");
    assert_eq!(
        props["legacyEnum"]["enum"].as_array().unwrap().len(),
        props["legacyEnum"]["enumNames"].as_array().unwrap().len()
    );
    assert_eq!(props["untitledMulti"]["type"], "array");
    assert_eq!(props["untitledMulti"]["items"]["type"], "string");
    assert_eq!(props["titledMulti"]["items"]["anyOf"][0]["const"], "value1");
    let r = p.until_id(&json!(4)).await.pop().unwrap();
    assert!(r.get("result").is_some(), "{r}");
}

#[tokio::test]
async fn legacy_progress_and_logging_arrive_before_the_result() {
    let mut p = legacy("2025-11-25").await;
    let (notes, r) = p
        .call_all(req(
            1,
            "tools/call",
            json!({"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"progress-test-1"}}),
        ))
        .await;
    assert!(r.get("result").is_some(), "{r}");
    let progress: Vec<f64> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| {
            assert_eq!(n["params"]["progressToken"], "progress-test-1");
            assert_eq!(n["params"]["total"], 100.0);
            n["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(progress, vec![0.0, 50.0, 100.0]);

    // Without a progress token, no progress is sent.
    let (notes, _) = p
        .call_all(call(2, "test_tool_with_progress", json!({})))
        .await;
    assert!(notes.is_empty(), "{notes:?}");

    assert_eq!(
        p.call(req(3, "logging/setLevel", json!({"level":"debug"})))
            .await["result"],
        json!({})
    );
    let started = std::time::Instant::now();
    let (notes, r) = p
        .call_all(call(4, "test_tool_with_logging", json!({})))
        .await;
    assert!(r.get("result").is_some(), "{r}");
    let logs: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/message")
        .collect();
    assert_eq!(logs.len(), 3, "{notes:?}");
    for (l, text) in logs.iter().zip([
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ]) {
        assert_eq!(l["params"]["level"], "info");
        assert_eq!(l["params"]["data"], text);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "spaced ~50 ms apart"
    );

    // Above the level set, logs are filtered.
    p.call(req(5, "logging/setLevel", json!({"level":"error"})))
        .await;
    let (notes, _) = p
        .call_all(call(6, "test_tool_with_logging", json!({})))
        .await;
    assert!(notes.is_empty(), "{notes:?}");
}

#[tokio::test]
async fn legacy_bad_input_is_answered_and_the_connection_goes_on() {
    let mut p = connect(fixtures_server(), 4096);
    let r = p
        .call(req(
            0,
            "initialize",
            json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
        ))
        .await;
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
    p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;

    p.send_raw("{this is not json").await;
    let e = p.recv().await;
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert_eq!(e["id"], Value::Null);

    // Batches are a 2025-03-26 feature only.
    p.send(json!([
        {"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","id":2,"method":"ping"}
    ]))
    .await;
    let e = p.recv().await;
    assert_eq!(e["error"]["code"], -32600, "{e}");

    // An oversized line is refused; the next line is read normally.
    p.send_raw(&format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{{\"name\":\"test_simple_text\",\"pad\":\"{}\"}}}}",
        "x".repeat(10_000)
    ))
    .await;
    let e = p.recv().await;
    assert!(e["error"]["code"].as_i64().is_some(), "{e}");
    assert!(e.get("result").is_none());

    let r = p.call(call(4, "test_simple_text", json!({}))).await;
    assert_eq!(text0(&r), "This is a simple text response for testing.");
    assert_eq!(p.call(req(5, "ping", json!({}))).await["result"], json!({}));

    // A second initialize on the same connection is refused.
    let r = p
        .call(req(
            6,
            "initialize",
            json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
}

#[tokio::test]
async fn batches_are_answered_with_an_array_on_2025_03_26() {
    let mut p = legacy("2025-03-26").await;
    p.send(json!([
        {"jsonrpc":"2.0","id":"a","method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"x","progress":1}},
        {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"test_simple_text"}}
    ]))
    .await;
    let line = p.recv().await;
    let replies = line
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {line}"));
    assert_eq!(replies.len(), 2, "{line}");
    let by_id = |id: &str| replies.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id("a")["result"], json!({}));
    assert_eq!(
        by_id("b")["result"]["content"][0]["text"],
        "This is a simple text response for testing."
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_request() {
    // A test-only tool on top of the fixtures.
    let server = fixtures_server();
    server.add_tool(
        Tool {
            name: "test_panics".into(),
            description: Some("Panics".into()),
            input_schema: json!({"type":"object"}),
            ..Default::default()
        },
        |_c: RequestContext, _a: JsonObject| async move {
            if true {
                panic!("fixture bug");
            }
            Ok::<_, Error>(CallToolResult::text("unreachable"))
        },
    );
    let mut p = connect(server, 1 << 20);
    p.call(req(
        0,
        "initialize",
        json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
    ))
    .await;
    p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    // A slow request in flight while the other one panics.
    p.send(req(
        1,
        "tools/call",
        json!({"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":1}}),
    ))
    .await;
    let r = p.call(call(2, "test_panics", json!({}))).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert_eq!(r["id"], 2);
    let r = p.until_id(&json!(1)).await.pop().unwrap();
    assert!(r.get("result").is_some(), "{r}");
    let r = p.call(call(3, "test_simple_text", json!({}))).await;
    assert_eq!(text0(&r), "This is a simple text response for testing.");
}

#[tokio::test]
async fn legacy_trigger_tools_fire_list_changed() {
    let mut p = legacy("2025-11-25").await;
    let (mut seen, r) = p
        .call_all(call(1, "test_trigger_tool_change", json!({})))
        .await;
    assert!(text0(&r).contains("added"), "{r}");
    // The notification may race the response; read on until it arrives.
    while !seen
        .iter()
        .any(|n| n["method"] == "notifications/tools/list_changed")
    {
        seen.push(p.recv().await);
    }
    let r = p.call(req(2, "tools/list", json!({}))).await;
    assert!(r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "test_dynamic_tool"));
    // A second call removes it again, so repeated runs keep the list bounded.
    let r = p.call(call(3, "test_trigger_tool_change", json!({}))).await;
    assert!(text0(&r).contains("removed"), "{r}");
    let r = p.call(req(4, "tools/list", json!({}))).await;
    assert!(!r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "test_dynamic_tool"));

    let (mut seen, _) = p
        .call_all(call(5, "test_trigger_prompt_change", json!({})))
        .await;
    while !seen
        .iter()
        .any(|n| n["method"] == "notifications/prompts/list_changed")
    {
        seen.push(p.recv().await);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Modern era (2026-07-28): no handshake, `_meta` on every request
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn modern_discover_and_meta_validation() {
    let mut p = connect(fixtures_server(), 1 << 20);
    let r = p.call(m(1, "server/discover", json!({}))).await;
    let d = &r["result"];
    let supported: Vec<&str> = d["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(supported.contains(&"2026-07-28"), "{d}");
    let caps = &d["capabilities"];
    for c in ["tools", "prompts", "resources", "logging", "completions"] {
        assert!(caps.get(c).is_some(), "capability {c} missing: {caps}");
    }
    assert_eq!(caps["tools"]["listChanged"], true);
    assert_eq!(caps["prompts"]["listChanged"], true);
    assert_eq!(d["resultType"], "complete");
    assert_eq!(d["ttlMs"], 60_000);
    assert_eq!(d["cacheScope"], "public");
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-rs-conformance-server"
    );
    assert!(d["_meta"]["io.modelcontextprotocol/serverInfo"]["version"].is_string());

    // _meta missing, or missing one of its required keys: -32602 with the id echoed.
    let r = p.call(req(2, "server/discover", json!({}))).await;
    assert_eq!(
        (r["error"]["code"].clone(), r["id"].clone()),
        (json!(-32602), json!(2)),
        "{r}"
    );
    let r = p
        .call(req(3, "server/discover", json!({"_meta":{CAPS:{}}})))
        .await;
    assert_eq!(r["error"]["code"], -32602, "no protocolVersion: {r}");
    let r = p
        .call(req(
            4,
            "server/discover",
            json!({"_meta":{PV:"2026-07-28"}}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32602, "no clientCapabilities: {r}");
    assert_eq!(r["id"], 4);
    // clientInfo is optional.
    let r = p
        .call(req(
            5,
            "server/discover",
            json!({"_meta":{PV:"2026-07-28",CAPS:{}}}),
        ))
        .await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");

    // Unsupported version: -32022 with data.supported ⊆ supportedVersions and data.requested.
    let r = p
        .call(req(
            6,
            "server/discover",
            json!({"_meta":{PV:"v999.0.0",CAPS:{}}}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32022, "{r}");
    assert_eq!(r["id"], 6);
    assert_eq!(r["error"]["data"]["requested"], "v999.0.0");
    let data_supported = r["error"]["data"]["supported"].as_array().unwrap();
    assert!(!data_supported.is_empty());
    assert!(data_supported
        .iter()
        .all(|v| supported.contains(&v.as_str().unwrap())));

    // Legacy-only and unknown methods are "method not found" on the modern era.
    for (id, method) in [
        (7, "initialize"),
        (8, "ping"),
        (9, "logging/setLevel"),
        (10, "resources/subscribe"),
        (11, "resources/unsubscribe"),
        (12, "unknown/method"),
    ] {
        let r = p.call(m(id, method, json!({}))).await;
        assert_eq!(r["error"]["code"], -32601, "{method}: {r}");
        assert_eq!(r["id"], id);
    }

    // Cacheable lists and reads carry ttlMs/cacheScope and are never input_required.
    for (id, method, params) in [
        (20, "tools/list", json!({})),
        (21, "prompts/list", json!({})),
        (22, "resources/list", json!({})),
        (23, "resources/templates/list", json!({})),
        (24, "resources/read", json!({"uri":"test://static-text"})),
    ] {
        let r = p.call(m(id, method, params)).await;
        let res = &r["result"];
        assert_eq!(res["resultType"], "complete", "{method}: {r}");
        assert_eq!(res["ttlMs"], 60_000, "{method}");
        assert_eq!(res["cacheScope"], "public", "{method}");
    }
    // Tool results carry resultType but no cache fields.
    let r = p.call(mcall(25, "test_simple_text", json!({}))).await;
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(r["result"].get("ttlMs").is_none());
    assert_eq!(text0(&r), "This is a simple text response for testing.");

    // SEP-2164: an unknown resource is -32602 with data.uri, never empty contents.
    let missing = "test://nonexistent-resource-for-conformance-testing";
    let r = p
        .call(m(26, "resources/read", json!({"uri":missing})))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(r["error"]["data"]["uri"], missing);
}

/// Round one of an MRTR call: asserts input_required and returns (inputRequests, requestState).
fn input_required(r: &Value) -> (Value, Option<String>) {
    let res = &r["result"];
    assert_eq!(res["resultType"], "input_required", "{r}");
    (
        res["inputRequests"].clone(),
        res["requestState"].as_str().map(str::to_owned),
    )
}

fn retry(id: i64, name: &str, responses: Value, state: Option<&str>) -> Value {
    let mut extra = json!({"inputResponses": responses});
    if let Some(s) = state {
        extra["requestState"] = json!(s);
    }
    mcall(id, name, extra)
}

#[tokio::test]
async fn modern_input_required_elicitation_round_trip() {
    let mut p = connect(fixtures_server(), 1 << 20);
    let tool = "test_input_required_result_elicitation";
    let r = p.call(mcall(1, tool, json!({}))).await;
    let (asks, state) = input_required(&r);
    let state = state.expect("requestState");
    assert_eq!(asks["user_name"]["method"], "elicitation/create", "{asks}");
    assert_eq!(asks["user_name"]["params"]["message"], "What is your name?");
    assert_eq!(
        asks["user_name"]["params"]["requestedSchema"]["properties"]["name"]["type"],
        "string"
    );

    let answer = json!({"user_name":{"action":"accept","content":{"name":"Alice"}}});
    let r = p.call(retry(2, tool, answer.clone(), Some(&state))).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert_eq!(text0(&r), "Hello, Alice!");

    // Extra keys are ignored.
    let mut extra = answer.clone();
    extra["unrelated"] = json!({"action":"decline"});
    let r = p.call(retry(3, tool, extra, Some(&state))).await;
    assert_eq!(text0(&r), "Hello, Alice!");

    // A tampered requestState is a JSON-RPC error.
    let tampered = format!("{state}-TAMPERED");
    let r = p
        .call(retry(4, tool, answer.clone(), Some(&tampered)))
        .await;
    assert!(r.get("error").is_some(), "tampered state accepted: {r}");
    assert_eq!(r["id"], 4);

    // Wrong keys, a malformed answer or null responses: asked again.
    for (id, responses) in [
        (
            5,
            json!({"wrong_key":{"action":"accept","content":{"name":"x"}}}),
        ),
        (6, json!({"user_name":12345})),
        (7, Value::Null),
    ] {
        let r = p.call(retry(id, tool, responses, Some(&state))).await;
        let (asks, _) = input_required(&r);
        assert!(asks.get("user_name").is_some(), "{r}");
    }

    // The tampered-state fixture rejects tampering too.
    let t = "test_input_required_result_tampered_state";
    let (_, s) = input_required(&p.call(mcall(8, t, json!({}))).await);
    let s = s.unwrap();
    let r = p
        .call(retry(9, t, answer.clone(), Some(&format!("{s}-TAMPERED"))))
        .await;
    assert!(r.get("error").is_some(), "{r}");
    let r = p.call(retry(10, t, answer, Some(&s))).await;
    assert_eq!(text0(&r), "Hello, Alice!");
}

#[tokio::test]
async fn modern_multi_round_takes_three_rounds_with_fresh_state() {
    let mut p = connect(fixtures_server(), 1 << 20);
    let tool = "test_input_required_result_multi_round";
    let (asks, s1) = input_required(&p.call(mcall(1, tool, json!({}))).await);
    assert!(asks.get("step1").is_some(), "{asks}");
    let s1 = s1.unwrap();
    let step1 = json!({"step1":{"action":"accept","content":{"name":"Ada"}}});
    let (asks, s2) = input_required(&p.call(retry(2, tool, step1, Some(&s1))).await);
    assert!(
        asks.get("step2").is_some() && asks.get("step1").is_none(),
        "{asks}"
    );
    let s2 = s2.unwrap();
    assert_ne!(s1, s2, "round two must carry a different requestState");
    let step2 = json!({"step2":{"action":"accept","content":{"city":"London"}}});
    let r = p.call(retry(3, tool, step2, Some(&s2))).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let text = text0(&r);
    assert!(text.contains("Ada") && text.contains("London"), "{text}");
}

#[tokio::test]
async fn modern_other_input_required_fixtures() {
    let mut p = connect(fixtures_server(), 1 << 20);

    // Sampling.
    let t = "test_input_required_result_sampling";
    let (asks, s) = input_required(&p.call(mcall(1, t, json!({}))).await);
    let (key, ask) = asks.as_object().unwrap().iter().next().unwrap();
    assert_eq!(ask["method"], "sampling/createMessage");
    assert_eq!(ask["params"]["maxTokens"], 100);
    assert_eq!(
        ask["params"]["messages"][0]["content"]["text"],
        "What is the capital of France?"
    );
    let answer = json!({key.clone(): {"role":"assistant","content":{"type":"text","text":"Paris"},"model":"test-model"}});
    let r = p.call(retry(2, t, answer, s.as_deref())).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(text0(&r).contains("Paris"));

    // Roots.
    let t = "test_input_required_result_list_roots";
    let (asks, s) = input_required(&p.call(mcall(3, t, json!({}))).await);
    let (key, ask) = asks.as_object().unwrap().iter().next().unwrap();
    assert_eq!(ask["method"], "roots/list");
    let answer = json!({key.clone(): {"roots":[{"uri":"file:///work","name":"work"}]}});
    let r = p.call(retry(4, t, answer, s.as_deref())).await;
    assert!(text0(&r).contains("file:///work"), "{r}");

    // requestState carries the handler's own state.
    let t = "test_input_required_result_request_state";
    let (asks, s) = input_required(&p.call(mcall(5, t, json!({}))).await);
    assert!(s.is_some());
    let (key, ask) = asks.as_object().unwrap().iter().next().unwrap();
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(
        ask["params"]["requestedSchema"]["properties"]["ok"]["type"],
        "boolean"
    );
    let answer = json!({key.clone(): {"action":"accept","content":{"ok":true}}});
    let r = p.call(retry(6, t, answer, s.as_deref())).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(text0(&r).contains("state-ok"), "{r}");

    // Several inputs in one round.
    let t = "test_input_required_result_multiple_inputs";
    let (asks, s) = input_required(&p.call(mcall(7, t, json!({}))).await);
    assert!(s.is_some());
    let asks = asks.as_object().unwrap();
    let mut methods: Vec<&str> = asks
        .values()
        .map(|a| a["method"].as_str().unwrap())
        .collect();
    methods.sort();
    assert_eq!(
        methods,
        ["elicitation/create", "roots/list", "sampling/createMessage"]
    );
    let mut answers = JsonObject::new();
    for (k, a) in asks {
        answers.insert(
            k.clone(),
            match a["method"].as_str().unwrap() {
                "elicitation/create" => json!({"action":"accept","content":{"name":"Bob"}}),
                "sampling/createMessage" => {
                    json!({"role":"assistant","content":{"type":"text","text":"Paris"},"model":"m"})
                }
                _ => json!({"roots":[]}),
            },
        );
    }
    let r = p
        .call(retry(8, t, Value::Object(answers), s.as_deref()))
        .await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");

    // Capabilities: only what the client declared is asked for.
    let t = "test_input_required_result_capabilities";
    let r = p
        .call(modern(
            9,
            "tools/call",
            json!({"name":t,"arguments":{}}),
            json!({"sampling":{}}),
            json!({}),
        ))
        .await;
    let (asks, _) = input_required(&r);
    let asks = asks.as_object().unwrap();
    assert!(!asks.is_empty());
    assert!(
        asks.values().all(|a| a["method"] != "elicitation/create"),
        "{asks:?}"
    );

    // The input-required prompt.
    let (asks, s) = input_required(
        &p.call(m(
            10,
            "prompts/get",
            json!({"name":"test_input_required_result_prompt"}),
        ))
        .await,
    );
    assert_eq!(
        asks["user_context"]["method"], "elicitation/create",
        "{asks}"
    );
    let r = p
        .call(m(
            11,
            "prompts/get",
            json!({"name":"test_input_required_result_prompt",
                   "inputResponses":{"user_context":{"action":"accept","content":{"context":"testing"}}},
                   "requestState":s}),
        ))
        .await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert!(r["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("testing"));
}

#[tokio::test]
async fn modern_missing_capability_and_streaming_elicitation() {
    let mut p = connect(fixtures_server(), 1 << 20);
    let r = p
        .call(modern(
            1,
            "tools/call",
            json!({"name":"test_missing_capability","arguments":{}}),
            json!({}),
            json!({}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32021, "{r}");
    assert_eq!(r["id"], 1);
    assert_eq!(
        r["error"]["data"]["requiredCapabilities"],
        json!({"sampling":{}})
    );

    // With elicitation declared: input_required, and never a JSON-RPC request from the server.
    let (before, r) = p
        .call_all(modern(
            2,
            "tools/call",
            json!({"name":"test_streaming_elicitation","arguments":{}}),
            json!({"elicitation":{}}),
            json!({"progressToken":"stream-1"}),
        ))
        .await;
    assert!(
        before
            .iter()
            .all(|m| m.get("id").is_none() && m.get("method").is_some()),
        "only notifications may precede the result: {before:?}"
    );
    input_required(&r);
}

#[tokio::test]
async fn modern_logs_only_when_asked_and_progress_on_the_request() {
    let mut p = connect(fixtures_server(), 1 << 20);
    let (before, r) = p.call_all(mcall(1, "test_logging_tool", json!({}))).await;
    assert!(r.get("result").is_some(), "{r}");
    assert!(
        !before
            .iter()
            .any(|m| m["method"] == "notifications/message"),
        "{before:?}"
    );
    let (before, _) = p
        .call_all(modern(
            2,
            "tools/call",
            json!({"name":"test_logging_tool","arguments":{}}),
            json!({}),
            json!({"io.modelcontextprotocol/logLevel":"debug"}),
        ))
        .await;
    assert_eq!(
        before
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .count(),
        1,
        "{before:?}"
    );
    // A level above the message's filters it.
    let (before, _) = p
        .call_all(modern(
            3,
            "tools/call",
            json!({"name":"test_logging_tool","arguments":{}}),
            json!({}),
            json!({"io.modelcontextprotocol/logLevel":"error"}),
        ))
        .await;
    assert!(before.is_empty(), "{before:?}");

    let (before, r) = p
        .call_all(modern(
            4,
            "tools/call",
            json!({"name":"test_tool_with_progress","arguments":{}}),
            json!({}),
            json!({"progressToken":"progress-test-1"}),
        ))
        .await;
    assert_eq!(r["result"]["resultType"], "complete");
    let progress: Vec<f64> = before
        .iter()
        .filter(|n| {
            n["method"] == "notifications/progress"
                && n["params"]["progressToken"] == "progress-test-1"
        })
        .map(|n| n["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, vec![0.0, 50.0, 100.0]);
}

fn tagged(msg: &Value, sub: &str) -> bool {
    msg["params"]["_meta"][SUB_ID] == sub
}

#[tokio::test]
async fn modern_listen_streams_tagged_filtered_list_changes() {
    let mut p = connect(fixtures_server(), 1 << 20);
    p.send(m(
        "listen-tools",
        "subscriptions/listen",
        json!({"notifications":{"toolsListChanged":true}}),
    ))
    .await;
    let ack = p.recv().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert!(tagged(&ack, "listen-tools"), "{ack}");
    assert_eq!(ack["params"]["notifications"]["toolsListChanged"], true);

    p.send(m(
        "listen-prompts",
        "subscriptions/listen",
        json!({"notifications":{"promptsListChanged":true}}),
    ))
    .await;
    let ack = p.recv().await;
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert!(tagged(&ack, "listen-prompts"), "{ack}");

    // A tool change reaches the tools listener only.
    let mut seen = p
        .call_all(mcall(1, "test_trigger_tool_change", json!({})))
        .await
        .0;
    while !seen
        .iter()
        .any(|n| n["method"] == "notifications/tools/list_changed")
    {
        seen.push(p.recv().await);
    }
    // A prompt change reaches the prompts listener only. Events are delivered in order, so once the prompt
    // change arrived, a stray tool change on the prompts stream would have arrived before it.
    seen.extend(
        p.call_all(mcall(2, "test_trigger_prompt_change", json!({})))
            .await
            .0,
    );
    while !seen
        .iter()
        .any(|n| n["method"] == "notifications/prompts/list_changed")
    {
        seen.push(p.recv().await);
    }
    for n in &seen {
        match n["method"].as_str() {
            Some("notifications/tools/list_changed") => assert!(tagged(n, "listen-tools"), "{n}"),
            Some("notifications/prompts/list_changed") => {
                assert!(tagged(n, "listen-prompts"), "{n}")
            }
            _ => {}
        }
        assert!(
            n.get("id").is_none() || n.get("method").is_none(),
            "no server requests: {n}"
        );
    }

    // Cancelling a listen ends it with a final complete result.
    for id in ["listen-tools", "listen-prompts"] {
        p.send(
            json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id}}),
        )
        .await;
        let r = p.until_id(&json!(id)).await.pop().unwrap();
        assert_eq!(r["result"]["resultType"], "complete", "{r}");
        assert_eq!(r["result"]["_meta"][SUB_ID], id);
    }
    // After cancellation, changes are no longer streamed.
    let (seen, _) = p
        .call_all(mcall(3, "test_trigger_tool_change", json!({})))
        .await;
    assert!(seen.is_empty(), "{seen:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (stray, r) = p.call_all(m(4, "tools/list", json!({}))).await;
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(
        stray.is_empty(),
        "nothing may stream after the listens ended: {stray:?}"
    );
}
