//! A handler cannot swallow a 2026-07-28 `input_required` by accident: turning the error of a question into a
//! tool error, or into a fallback value, still answers the request with `input_required`, and the next
//! round gets the answer.

use crate::support;

use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
use mcp_protocol::JsonObject;
use mcp_server::{Error, ErrorKind, RequestContext, Server};
use serde_json::{json, Value};
use support::Pipe;

fn tool(name: &str) -> Tool {
    Tool {
        name: name.into(),
        input_schema: json!({"type":"object"}),
        ..Default::default()
    }
}

fn ask_name() -> ElicitRequestParams {
    ElicitRequestParams::form(
        "Name?",
        json!({"type":"object","properties":{"name":{"type":"string"}}}),
    )
}

fn name_of(r: mcp_protocol::types::ElicitResult) -> String {
    r.content
        .and_then(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

fn server() -> Server {
    Server::builder("input-required-test", "1.0.0")
        // The naive conversion the type used to invite: the suspension becomes a tool error.
        .tool(
            tool("map_err"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let r = ctx
                    .elicit("name", ask_name())
                    .await
                    .map_err(|e| Error::tool(e.to_string()))?;
                Ok::<_, Error>(CallToolResult::text(format!("Hello, {}!", name_of(r))))
            },
        )
        // A fallback value: the question is dropped on the floor.
        .tool(
            tool("fallback"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let name = ctx
                    .elicit("name", ask_name())
                    .await
                    .map(name_of)
                    .unwrap_or_else(|_| "stranger".into());
                Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
            },
        )
        // What the error says about itself, for a handler that inspects it.
        .tool(
            tool("inspect"),
            |ctx: RequestContext, _a: JsonObject| async move {
                match ctx.elicit("name", ask_name()).await {
                    Ok(r) => Ok(CallToolResult::text(name_of(r))),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::InputRequired);
                        assert!(e.is_input_required() && !e.is_tool());
                        assert!(e.to_string().contains("\"name\""), "{e}");
                        assert!(e.rpc_error().is_none() && e.tool_message().is_none());
                        Err(e)
                    }
                }
            },
        )
        .build()
}

fn connect() -> Pipe {
    support::connect(server())
}

fn modern(id: i64, params: Value, elicitation: bool) -> Value {
    let caps = if elicitation {
        json!({"elicitation":{}})
    } else {
        json!({})
    };
    support::modern_request(id, "tools/call", params, caps)
}

#[tokio::test]
async fn a_swallowed_input_required_still_reaches_the_client() {
    let mut p = connect();
    for (i, name) in ["map_err", "fallback", "inspect"].into_iter().enumerate() {
        let id = 10 * i as i64;
        let r = p.call(modern(id, json!({"name": name}), true)).await;
        assert_eq!(r["result"]["resultType"], "input_required", "{name}: {r}");
        assert!(
            r["result"]["inputRequests"]["name"].is_object(),
            "{name}: {r}"
        );
        assert!(r["result"].get("isError").is_none(), "{name}: {r}");

        let state = r["result"]["requestState"].clone();
        let answer = json!({"name": name, "requestState": state,
            "inputResponses": {"name": {"action":"accept","content":{"name":"Mo"}}}});
        let r = p.call(modern(id + 1, answer, true)).await;
        assert_eq!(r["result"]["resultType"], "complete", "{name}: {r}");
        assert!(
            r["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("Mo"),
            "{name}: {r}"
        );
    }
}

#[tokio::test]
async fn other_question_errors_are_still_the_handlers_to_shape() {
    // No elicitation capability: the question fails before it is asked, nothing is left open, and the
    // handler's conversion stands.
    let mut p = connect();
    let r = p.call(modern(1, json!({"name": "map_err"}), false)).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = p.call(modern(2, json!({"name": "fallback"}), false)).await;
    assert_eq!(r["result"]["content"][0]["text"], "Hello, stranger!", "{r}");
}

#[tokio::test]
async fn a_round_state_opens_for_its_own_arguments_whatever_the_next_round_declares() {
    // The state is bound to the call's arguments; the server keeps them for that only when a round can
    // need them, which includes a request that brings a state but declares nothing a question needs.
    let mut p = connect();
    let first = json!({"name": "map_err", "arguments": {"greeting": "hi"}});
    let r = p.call(modern(1, first, true)).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let state = r["result"]["requestState"].clone();
    let responses = json!({"name": {"action":"accept","content":{"name":"Mo"}}});

    let same = json!({"name": "map_err", "arguments": {"greeting": "hi"},
        "requestState": state, "inputResponses": responses});
    let r = p.call(modern(2, same, false)).await;
    // The state opened; the handler ran and its question failed on the missing capability.
    assert_eq!(r["result"]["isError"], true, "{r}");

    let other = json!({"name": "map_err", "arguments": {"greeting": "bye"},
        "requestState": state, "inputResponses": responses});
    let r = p.call(modern(3, other, false)).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}
