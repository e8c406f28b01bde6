//! Every message the server actually produces, on each revision we claim, validates against that revision's
//! official JSON Schema (`../shared/spec/<rev>/schema.json`). The fixtures server is driven over stdio framing
//! through a broad script (every result kind, notifications, server→client requests, errors); each message
//! is checked against the schema type its method implies.
//!
//! CI must have `../shared`: with `CI` set a missing folder fails the test; otherwise it is skipped with a reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mcp::server::{serve_connection, ConnectionOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Schema {
    rev: &'static str,
    root: Value,
    defs_key: &'static str,
    cache: HashMap<String, jsonschema::Validator>,
}

impl Schema {
    fn load(rev: &'static str) -> Option<Self> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../../shared/spec/{rev}/schema.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("CI needs {}: {e}", path.display())
            }
            Err(_) => {
                eprintln!(
                    "SKIPPED: {} not found (the shared spec folder is beside the repository in CI)",
                    path.display()
                );
                return None;
            }
        };
        let root: Value = serde_json::from_str(&text).unwrap();
        let defs_key = if root.get("$defs").is_some() {
            "$defs"
        } else {
            "definitions"
        };
        Some(Self {
            rev,
            root,
            defs_key,
            cache: HashMap::new(),
        })
    }

    fn has(&self, name: &str) -> bool {
        self.root[self.defs_key].get(name).is_some()
    }

    /// Validation errors of `value` as the schema type `name`.
    fn errors(&mut self, name: &str, value: &Value) -> Vec<String> {
        assert!(self.has(name), "{} has no type {name}", self.rev);
        let (root, key) = (&self.root, self.defs_key);
        let v = self.cache.entry(name.to_owned()).or_insert_with(|| {
            let mut doc = root.clone();
            doc["$ref"] = json!(format!("#/{key}/{name}"));
            jsonschema::validator_for(&doc).unwrap()
        });
        v.iter_errors(value)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect()
    }
}

/// The schema type of a result, by the method that produced it.
fn result_type(method: &str, result: &Value) -> &'static str {
    if result["resultType"] == "input_required" {
        return "InputRequiredResult";
    }
    match method {
        "initialize" => "InitializeResult",
        "server/discover" => "DiscoverResult",
        "tools/list" => "ListToolsResult",
        "tools/call" => "CallToolResult",
        "resources/list" => "ListResourcesResult",
        "resources/templates/list" => "ListResourceTemplatesResult",
        "resources/read" => "ReadResourceResult",
        "prompts/list" => "ListPromptsResult",
        "prompts/get" => "GetPromptResult",
        "completion/complete" => "CompleteResult",
        "subscriptions/listen" => "SubscriptionsListenResult",
        _ => "EmptyResult",
    }
}

fn message_type(schema: &Schema, msg: &Value) -> &'static str {
    match msg["method"].as_str() {
        Some("notifications/progress") => "ProgressNotification",
        Some("notifications/message") => "LoggingMessageNotification",
        Some("notifications/subscriptions/acknowledged") => "SubscriptionsAcknowledgedNotification",
        Some("notifications/tools/list_changed") => "ToolListChangedNotification",
        Some("elicitation/create") => "ElicitRequest",
        Some("sampling/createMessage") => "CreateMessageRequest",
        Some("roots/list") => "ListRootsRequest",
        Some(other) => panic!("unexpected server message {other}"),
        None if schema.has("JSONRPCErrorResponse") => "JSONRPCErrorResponse",
        None => "JSONRPCError",
    }
}

/// Drive the server through `script` and validate everything it sends. Returns how many messages were checked.
async fn run(schema: &mut Schema, script: Vec<Value>, answers: &dyn Fn(&Value) -> Value) -> usize {
    let (client, srv) = tokio::io::duplex(1 << 20);
    let (sr, sw) = tokio::io::split(srv);
    tokio::spawn(serve_connection(
        mcp_conformance::fixtures_server(),
        BufReader::new(sr),
        sw,
        ConnectionOptions::default(),
    ));
    let (cr, mut cw) = tokio::io::split(client);
    let mut lines = BufReader::new(cr).lines();
    let mut checked = 0;
    let mut failures = Vec::new();
    for msg in script {
        let id = msg.get("id").cloned();
        let method = msg["method"].as_str().unwrap_or_default().to_owned();
        cw.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
        let Some(id) = id else { continue };
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
                .await
                .expect("server silent")
                .unwrap()
                .unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            let (name, value) = if m.get("result").is_some() && m["id"] == id {
                (result_type(&method, &m["result"]), m["result"].clone())
            } else {
                (message_type(schema, &m), m.clone())
            };
            let errs = schema.errors(name, &value);
            if !errs.is_empty() {
                failures.push(format!(
                    "{} {method} -> {name}: {errs:?}\n  {value}",
                    schema.rev
                ));
            }
            checked += 1;
            if m.get("method").is_some() && m.get("id").is_some() {
                let reply = json!({"jsonrpc":"2.0","id":m["id"],"result":answers(&m)});
                cw.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                continue;
            }
            if m.get("method").is_none() && m["id"] == id {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "messages that do not match the schema:\n{}",
        failures.join("\n")
    );
    checked
}

fn answers(m: &Value) -> Value {
    match m["method"].as_str() {
        Some("elicitation/create") => {
            json!({"action":"accept","content":{"username":"u","email":"u@example.com"}})
        }
        Some("sampling/createMessage") => {
            json!({"role":"assistant","content":{"type":"text","text":"Paris"},"model":"test-model"})
        }
        _ => json!({"roots":[]}),
    }
}

fn req(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

fn call(id: i64, name: &str, args: Value) -> Value {
    req(id, "tools/call", json!({"name":name,"arguments":args}))
}

fn legacy_script(version: &str, interactive: bool) -> Vec<Value> {
    let caps = if interactive {
        json!({"sampling":{},"elicitation":{}})
    } else {
        json!({})
    };
    let mut s = vec![
        req(
            1,
            "initialize",
            json!({"protocolVersion":version,"capabilities":caps,"clientInfo":{"name":"schema-test","version":"1"}}),
        ),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        req(2, "tools/list", json!({})),
        req(3, "logging/setLevel", json!({"level":"debug"})),
        req(4, "ping", json!({})),
        req(5, "resources/list", json!({})),
        req(6, "resources/templates/list", json!({})),
        req(7, "resources/read", json!({"uri":"test://static-text"})),
        req(8, "resources/read", json!({"uri":"test://static-binary"})),
        req(
            9,
            "resources/read",
            json!({"uri":"test://template/42/data"}),
        ),
        req(
            10,
            "resources/subscribe",
            json!({"uri":"test://watched-resource"}),
        ),
        req(11, "prompts/list", json!({})),
        req(
            12,
            "prompts/get",
            json!({"name":"test_prompt_with_arguments","arguments":{"arg1":"a","arg2":"b"}}),
        ),
        req(
            13,
            "prompts/get",
            json!({"name":"test_prompt_with_embedded_resource","arguments":{"resourceUri":"test://x"}}),
        ),
        req(14, "prompts/get", json!({"name":"test_prompt_with_image"})),
        req(
            15,
            "completion/complete",
            json!({"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg1","value":"t"}}),
        ),
        req(16, "resources/read", json!({"uri":"test://missing"})),
        req(17, "no/such/method", json!({})),
    ];
    for (i, t) in [
        "test_simple_text",
        "test_image_content",
        "test_audio_content",
        "test_embedded_resource",
        "test_multiple_content_types",
        "test_error_handling",
        "test_tool_with_logging",
    ]
    .iter()
    .enumerate()
    {
        s.push(call(100 + i as i64, t, json!({})));
    }
    s.push(req(
        120,
        "tools/call",
        json!({"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p1"}}),
    ));
    if interactive {
        s.push(call(
            121,
            "test_sampling",
            json!({"prompt":"Capital of France?"}),
        ));
        s.push(call(
            122,
            "test_elicitation",
            json!({"message":"Who are you?"}),
        ));
        s.push(call(123, "test_elicitation_sep1034_defaults", json!({})));
    }
    s
}

fn modern_req(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{"sampling":{},"elicitation":{},"roots":{}},
        "io.modelcontextprotocol/clientInfo":{"name":"schema-test","version":"1"},
        "io.modelcontextprotocol/logLevel":"debug",
        "progressToken": format!("t{id}")
    });
    req(id, method, params)
}

fn modern_script() -> Vec<Value> {
    let mut s = vec![
        modern_req(1, "server/discover", json!({})),
        modern_req(2, "tools/list", json!({})),
        modern_req(3, "resources/list", json!({})),
        modern_req(4, "resources/templates/list", json!({})),
        modern_req(5, "resources/read", json!({"uri":"test://static-text"})),
        modern_req(6, "resources/read", json!({"uri":"test://static-binary"})),
        modern_req(7, "prompts/list", json!({})),
        modern_req(
            8,
            "prompts/get",
            json!({"name":"test_prompt_with_arguments","arguments":{"arg1":"a","arg2":"b"}}),
        ),
        modern_req(
            9,
            "prompts/get",
            json!({"name":"test_input_required_result_prompt"}),
        ),
        modern_req(
            10,
            "completion/complete",
            json!({"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg1","value":""}}),
        ),
        modern_req(11, "resources/read", json!({"uri":"test://missing"})),
        modern_req(12, "ping", json!({})),
    ];
    let tools = [
        "test_simple_text",
        "test_image_content",
        "test_audio_content",
        "test_embedded_resource",
        "test_multiple_content_types",
        "test_error_handling",
        "test_tool_with_logging",
        "test_tool_with_progress",
        "test_logging_tool",
        "test_input_required_result_elicitation",
        "test_input_required_result_sampling",
        "test_input_required_result_list_roots",
        "test_input_required_result_multiple_inputs",
        "test_input_required_result_request_state",
    ];
    for (i, t) in tools.iter().enumerate() {
        s.push(modern_req(
            100 + i as i64,
            "tools/call",
            json!({"name":t,"arguments":{}}),
        ));
    }
    s
}

#[tokio::test]
async fn server_output_matches_the_official_schemas() {
    let mut total = 0;
    for (rev, interactive) in [
        ("2025-03-26", false),
        ("2025-06-18", true),
        ("2025-11-25", true),
    ] {
        let Some(mut schema) = Schema::load(rev) else {
            return;
        };
        let n = run(&mut schema, legacy_script(rev, interactive), &answers).await;
        println!("{rev}: {n} server messages validated");
        assert!(n >= 28, "{rev}: only {n} messages checked");
        total += n;
    }
    let Some(mut schema) = Schema::load("2026-07-28") else {
        return;
    };
    let n = run(&mut schema, modern_script(), &answers).await;
    println!("2026-07-28: {n} server messages validated");
    assert!(n >= 30, "2026-07-28: only {n} messages checked");
    total += n;
    println!("total: {total}");
}

#[tokio::test]
async fn the_validator_rejects_what_it_should() {
    let Some(mut schema) = Schema::load("2026-07-28") else {
        return;
    };
    // A modern result without resultType, and a content block without a type, must both fail.
    assert!(!schema
        .errors(
            "CallToolResult",
            &json!({"content":[{"type":"text","text":"x"}]})
        )
        .is_empty());
    assert!(!schema
        .errors(
            "CallToolResult",
            &json!({"resultType":"complete","content":[{"text":"x"}]})
        )
        .is_empty());
    assert!(schema
        .errors(
            "CallToolResult",
            &json!({"resultType":"complete","content":[{"type":"text","text":"x"}]})
        )
        .is_empty());
}
