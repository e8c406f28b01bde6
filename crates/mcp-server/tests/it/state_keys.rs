//! Rotating the `requestState` key of a fleet: a node with the new key and the old one among its previous
//! keys finishes a round another node sealed with the old key; a state sealed with a key it does not know is
//! refused; and it seals with the new key only.

use crate::support;

use mcp_protocol::types::{CallToolResult, ElicitRequestParams, Tool};
use mcp_protocol::JsonObject;
use mcp_server::{Error, RequestContext, Server, StateKey};
use serde_json::{json, Value};

const OLD: &[u8] = b"the fleet's key until yesterday!";
const NEW: &[u8] = b"the fleet's key from today on...";

fn node(current: &[u8], previous: &[&[u8]]) -> support::Pipe {
    let server = Server::builder("rotating", "1.0.0")
        .state_key(StateKey::new(current.to_vec()))
        .previous_state_keys(previous.iter().map(|k| StateKey::new(k.to_vec())))
        .tool(
            Tool {
                name: "ask".into(),
                input_schema: json!({"type":"object"}),
                ..Default::default()
            },
            |ctx: RequestContext, _a: JsonObject| async move {
                let r = ctx
                    .elicit(
                        "name",
                        ElicitRequestParams::form(
                            "Name?",
                            json!({"type":"object","properties":{"name":{"type":"string"}}}),
                        ),
                    )
                    .await?;
                let name = r.content.and_then(|c| c.get("name").cloned());
                Ok::<_, Error>(CallToolResult::text(format!(
                    "Hello, {}!",
                    name.as_ref().and_then(Value::as_str).unwrap_or("?")
                )))
            },
        )
        .build();
    support::connect(server)
}

fn call(id: i64, params: Value) -> Value {
    support::modern_request(id, "tools/call", params, json!({"elicitation":{}}))
}

/// The first round on `p`: its sealed state.
async fn first_round(p: &mut support::Pipe) -> Value {
    let r = p.call(call(1, json!({"name":"ask"}))).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    r["result"]["requestState"].clone()
}

fn retry(state: &Value) -> Value {
    call(
        2,
        json!({"name":"ask","requestState":state,
            "inputResponses":{"name":{"action":"accept","content":{"name":"Ada"}}}}),
    )
}

#[tokio::test]
async fn a_state_sealed_with_the_previous_key_opens_after_rotation() {
    // Sealed by a node that has not rotated yet.
    let state = first_round(&mut node(OLD, &[])).await;
    // Finished by a node that has.
    let r = node(NEW, &[OLD]).call(retry(&state)).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "Hello, Ada!");
    // Once the old key is dropped, the same state is refused.
    let r = node(NEW, &[]).call(retry(&state)).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("integrity"),
        "{r}"
    );
}

#[tokio::test]
async fn a_state_sealed_with_an_unknown_key_is_refused_and_new_states_use_the_current_key() {
    let stranger = first_round(&mut node(b"a key nobody in the fleet knows!", &[])).await;
    let r = node(NEW, &[OLD]).call(retry(&stranger)).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // What a rotated node seals, a node holding only the new key opens, and one holding only the old
    // key does not.
    let state = first_round(&mut node(NEW, &[OLD])).await;
    let r = node(NEW, &[]).call(retry(&state)).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let r = node(OLD, &[]).call(retry(&state)).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}
