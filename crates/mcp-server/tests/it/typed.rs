//! Typed helpers over a real connection, on both eras: `elicit_as` (the form derived from a struct, the answer
//! parsed back into it) and `typed_prompt` (arguments declared from a struct and parsed from strings).

use crate::support;

use mcp_protocol::types::{CallToolResult, GetPromptResult, PromptMessage, Tool};
use mcp_server::{ElicitForm, Elicitation, Error, RequestContext, Server};
use serde_json::{json, Value};
use support::Pipe;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, mcp_macros::FormChoice)]
#[serde(rename_all = "lowercase")]
enum Plan {
    /// Free forever
    Free,
    /// Paid monthly
    Pro,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, mcp_macros::FormChoice)]
#[serde(rename_all = "lowercase")]
enum Topic {
    Rust,
    Go,
}

/// A signup form using every kind of field the spec allows.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
struct Signup {
    /// Your name.
    name: String,
    #[schemars(email)]
    email: Option<String>,
    #[schemars(range(min = 13))]
    age: u32,
    newsletter: bool,
    plan: Plan,
    topics: Vec<Topic>,
    #[serde(default = "default_score")]
    #[schemars(default = "default_score")]
    score: f64,
}

fn default_score() -> f64 {
    0.5
}

/// Looks like a form to the type system (a hand-written impl skips the derive's check), but is not flat.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct NotFlat {
    inner: Signup,
}
impl ElicitForm for NotFlat {}

#[derive(serde::Deserialize, schemars::JsonSchema, mcp_macros::ElicitForm)]
struct Confirm {
    ok: bool,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ReviewArgs {
    /// The code to review.
    code: String,
    /// At most this many findings.
    max_findings: Option<u32>,
    /// Only report errors.
    strict: Option<bool>,
}

fn tool(name: &str) -> Tool {
    Tool::new(name, json!({"type": "object"}))
}

fn server() -> Server {
    Server::builder("typed", "1.0.0")
        .tool(tool("signup"), |ctx: RequestContext, _args| async move {
            let text = match ctx.elicit_as::<Signup>("Sign up").await? {
                Elicitation::Accept(s) => format!(
                    "{} <{}> {} {} {:?} {:?} {}",
                    s.name,
                    s.email.unwrap_or_default(),
                    s.age,
                    s.newsletter,
                    s.plan,
                    s.topics,
                    s.score
                ),
                Elicitation::Decline => "declined".into(),
                Elicitation::Cancel => "cancelled".into(),
            };
            Ok::<_, Error>(CallToolResult::text(text))
        })
        .tool(tool("twice"), |ctx: RequestContext, _args| async move {
            let first = ctx.elicit_as::<Confirm>("Sure?").await?;
            let again = ctx.elicit_as::<Confirm>("Really sure?").await?;
            Ok::<_, Error>(CallToolResult::text(format!(
                "{first:?}{again:?}",
                first = first.accepted().map(|c| c.ok),
                again = again.accepted().map(|c| c.ok)
            )))
        })
        .tool(tool("keyed"), |ctx: RequestContext, _args| async move {
            let first = ctx.elicit_as_keyed::<Confirm>("first", "Sure?").await?;
            let again = ctx
                .elicit_as_keyed::<Confirm>("again", "Really sure?")
                .await?;
            let both =
                first.accepted().is_some_and(|c| c.ok) && again.accepted().is_some_and(|c| c.ok);
            Ok::<_, Error>(CallToolResult::text(format!("both: {both}")))
        })
        .tool(tool("not_flat"), |ctx: RequestContext, _args| async move {
            let _ = ctx.elicit_as::<NotFlat>("Nested?").await?;
            Ok::<_, Error>(CallToolResult::text("unreachable"))
        })
        .typed_prompt(
            "review",
            "Review code",
            |_ctx, args: ReviewArgs| async move {
                Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(format!(
                    "review {} max={:?} strict={:?}",
                    args.code, args.max_findings, args.strict
                ))]))
            },
        )
        .build()
}

impl Pipe {
    fn new() -> Self {
        support::connect(server())
    }
    async fn legacy(version: &str) -> Self {
        let mut p = Self::new();
        let r = p.call(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}})).await;
        assert_eq!(r["result"]["protocolVersion"], version);
        p.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        p
    }
    /// Call a tool on a legacy session, answering its `elicitation/create` requests with `answers` in turn;
    /// returns the params of those requests and the tool's response.
    async fn legacy_tool(&mut self, id: i64, tool: &str, answers: &[Value]) -> (Vec<Value>, Value) {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool}}))
            .await;
        let mut asked = Vec::new();
        loop {
            let m = self.recv().await;
            if m["method"] == "elicitation/create" {
                let answer = answers
                    .get(asked.len())
                    .expect("more questions than answers")
                    .clone();
                asked.push(m["params"].clone());
                self.send(json!({"jsonrpc":"2.0","id":m["id"],"result":answer}))
                    .await;
            } else if m["id"] == id {
                return (asked, m);
            }
        }
    }
}

fn modern(id: i64, method: &str, params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}});
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":p})
}

fn accepted() -> Value {
    // `score` is left out: the schema's default fills it.
    json!({"action": "accept", "content": {
        "name": "Ada", "email": "ada@example.com", "age": 36, "newsletter": true,
        "plan": "pro", "topics": ["rust", "go"]
    }})
}

const ACCEPTED_TEXT: &str = "Ada <ada@example.com> 36 true Pro [Rust, Go] 0.5";

/// The form as the spec wants it: flat, each field in one of the allowed shapes.
fn assert_signup_form(schema: &Value, titled_as_legacy: bool) {
    let p = &schema["properties"];
    assert_eq!(schema["type"], "object");
    assert_eq!(
        p["name"],
        json!({"type": "string", "description": "Your name."})
    );
    assert_eq!(
        p["email"],
        json!({"type": "string", "format": "email"}),
        "Option loses its null"
    );
    assert_eq!(p["age"]["type"], "integer");
    assert_eq!(p["age"]["minimum"], 13);
    assert_eq!(p["newsletter"], json!({"type": "boolean"}));
    if titled_as_legacy {
        assert_eq!(
            p["plan"],
            json!({"type": "string", "enum": ["free", "pro"], "enumNames": ["Free forever", "Paid monthly"]})
        );
    } else {
        assert_eq!(
            p["plan"],
            json!({"type": "string", "oneOf": [{"const": "free", "title": "Free forever"}, {"const": "pro", "title": "Paid monthly"}]})
        );
    }
    assert_eq!(
        p["topics"],
        json!({"type": "array", "items": {"type": "string", "enum": ["rust", "go"]}})
    );
    assert_eq!(p["score"], json!({"type": "number", "default": 0.5}));
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["age", "name", "newsletter", "plan", "topics"]);
    // And the protocol crate's own reader of forms agrees it is one.
    mcp_protocol::types::RequestedSchema::from_value(schema).unwrap();
}

#[test]
fn the_derived_form_keeps_declaration_order() {
    let schema = Signup::requested_schema().unwrap();
    let names: Vec<&str> = schema.properties.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "name",
            "email",
            "age",
            "newsletter",
            "plan",
            "topics",
            "score"
        ]
    );
}

#[tokio::test]
async fn legacy_elicit_as_sends_the_derived_form_and_parses_the_answer() {
    let mut p = Pipe::legacy("2025-11-25").await;
    let (asked, r) = p.legacy_tool(1, "signup", &[accepted()]).await;
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["message"], "Sign up");
    assert_signup_form(&asked[0]["requestedSchema"], false);
    assert_eq!(r["result"]["content"][0]["text"], ACCEPTED_TEXT, "{r}");

    let (_, r) = p
        .legacy_tool(2, "signup", &[json!({"action": "decline"})])
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "declined");
    let (_, r) = p
        .legacy_tool(3, "signup", &[json!({"action": "cancel"})])
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "cancelled");

    // An answer that does not fit the struct is invalid params, not a panic or a garbled value.
    let bad = json!({"action": "accept", "content": {"name": "Ada", "age": "old", "newsletter": true, "plan": "pro", "topics": []}});
    let (_, r) = p.legacy_tool(4, "signup", &[bad]).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("age"),
        "{r}"
    );
}

#[tokio::test]
async fn before_2025_11_25_titled_choices_use_enum_names() {
    let mut p = Pipe::legacy("2025-06-18").await;
    let (asked, r) = p.legacy_tool(1, "signup", &[accepted()]).await;
    assert_signup_form(&asked[0]["requestedSchema"], true);
    assert_eq!(r["result"]["content"][0]["text"], ACCEPTED_TEXT);
}

#[tokio::test]
async fn modern_elicit_as_ends_with_input_required_and_the_retry_brings_the_answer() {
    let mut p = Pipe::new();
    let r = p
        .call(modern(1, "tools/call", json!({"name": "signup"})))
        .await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    let requests = r["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, question) = requests.iter().next().unwrap();
    assert_eq!(key, "Signup", "the key is the form type's name");
    assert_eq!(question["method"], "elicitation/create");
    assert_eq!(question["params"]["mode"], "form");
    assert_signup_form(&question["params"]["requestedSchema"], false);

    let state = r["result"]["requestState"].clone();
    let retry = |id: i64, answer: Value| {
        modern(
            id,
            "tools/call",
            json!({"name": "signup", "requestState": state, "inputResponses": {"Signup": answer}}),
        )
    };
    let r = p.call(retry(2, accepted())).await;
    assert_eq!(r["result"]["content"][0]["text"], ACCEPTED_TEXT, "{r}");
    let r = p.call(retry(3, json!({"action": "cancel"}))).await;
    assert_eq!(r["result"]["content"][0]["text"], "cancelled", "{r}");
}

#[tokio::test]
async fn one_form_type_asked_twice_needs_keys() {
    // Modern: the second question would get the first one's answer, so it is refused on both eras.
    let mut p = Pipe::new();
    let ok = json!({"action": "accept", "content": {"ok": true}});
    let r = p
        .call(modern(
            1,
            "tools/call",
            json!({"name": "twice", "inputResponses": {"Confirm": ok}}),
        ))
        .await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("elicit_as_keyed"),
        "{r}"
    );
    let mut p = Pipe::legacy("2025-11-25").await;
    let (asked, r) = p.legacy_tool(1, "twice", std::slice::from_ref(&ok)).await;
    assert_eq!(asked.len(), 1);
    assert_eq!(r["error"]["code"], -32603, "{r}");

    // With keys, each question is its own.
    let (asked, r) = p.legacy_tool(2, "keyed", &[ok.clone(), ok.clone()]).await;
    assert_eq!(
        (asked.len(), &r["result"]["content"][0]["text"]),
        (2, &json!("both: true")),
        "{r}"
    );
    let mut p = Pipe::new();
    let r = p
        .call(modern(3, "tools/call", json!({"name": "keyed"})))
        .await;
    let keys: Vec<&String> = r["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["first"], "asked one at a time, in order");
    let r = p
        .call(modern(
            4,
            "tools/call",
            json!({"name": "keyed", "inputResponses": {"first": ok, "again": ok}}),
        ))
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "both: true", "{r}");
}

#[tokio::test]
async fn a_type_that_is_not_a_flat_form_is_an_error_not_a_panic() {
    let mut p = Pipe::legacy("2025-11-25").await;
    let (asked, r) = p.legacy_tool(1, "not_flat", &[]).await;
    assert!(asked.is_empty(), "nothing is sent to the client");
    assert_eq!(r["error"]["code"], -32603, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("NotFlat") && msg.contains("inner"), "{msg}");
}

#[tokio::test]
async fn typed_prompt_declares_and_parses_its_arguments() {
    for legacy in [true, false] {
        let mut p = if legacy {
            Pipe::legacy("2025-11-25").await
        } else {
            Pipe::new()
        };
        let req = |id: i64, method: &str, params: Value| {
            if legacy {
                json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
            } else {
                modern(id, method, params)
            }
        };
        let list = p.call(req(1, "prompts/list", json!({}))).await;
        let mut args = list["result"]["prompts"][0]["arguments"]
            .as_array()
            .unwrap()
            .clone();
        args.sort_by_key(|a| a["name"].as_str().unwrap().to_owned());
        assert_eq!(
            Value::Array(args),
            json!([
                {"name": "code", "description": "The code to review.", "required": true},
                {"name": "max_findings", "description": "At most this many findings.", "required": false},
                {"name": "strict", "description": "Only report errors.", "required": false},
            ])
        );
        let get = |id: i64, args: Value| {
            req(
                id,
                "prompts/get",
                json!({"name": "review", "arguments": args}),
            )
        };
        let r = p
            .call(get(
                2,
                json!({"code": "fn main() {}", "max_findings": "3", "strict": "true"}),
            ))
            .await;
        assert_eq!(
            r["result"]["messages"][0]["content"]["text"],
            "review fn main() {} max=Some(3) strict=Some(true)",
            "{r}"
        );
        let r = p.call(get(3, json!({"code": "x"}))).await;
        assert_eq!(
            r["result"]["messages"][0]["content"]["text"],
            "review x max=None strict=None"
        );
        for (id, bad, names) in [
            (4, json!({"max_findings": "3"}), "code"),
            (
                5,
                json!({"code": "x", "max_findings": "many"}),
                "max_findings",
            ),
        ] {
            let r = p.call(get(id, bad)).await;
            assert_eq!(r["error"]["code"], -32602, "{r}");
            assert!(
                r["error"]["message"].as_str().unwrap().contains(names),
                "{r}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "cannot be prompt arguments")]
fn typed_prompt_refuses_nested_arguments_when_built() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        inner: ReviewArgs,
    }
    let _ = Server::builder("x", "1").typed_prompt("p", "d", |_ctx, _a: Nested| async {
        Ok::<_, Error>(GetPromptResult::new(vec![]))
    });
}
