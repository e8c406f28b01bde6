//! `#[tool]` and `#[prompt]`: the registrations they generate build the right definitions, and the handlers
//! answer real requests over a connection.

use mcp_protocol::types::{GetPromptResult, PromptMessage};
use mcp_server::{
    serve_connection, ConnectionOptions, Error, Json, PromptArgs, RequestContext, Server,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// The first addend.
    a: f64,
    /// The second addend.
    b: f64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Sum {
    sum: f64,
}

/// Add two numbers.
///
/// Returns their sum.
#[mcp_macros::tool]
async fn add(args: AddArgs) -> Result<Json<Sum>, Error> {
    Ok(Json(Sum {
        sum: args.a + args.b,
    }))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    pub text: String,
}

/// This doc comment is not the description: the attribute's wins.
#[mcp_macros::tool(name = "echo", description = "Echo the text back")]
pub async fn echo_text(ctx: RequestContext, args: EchoArgs) -> Result<String, Error> {
    Ok(format!("{} (request {})", args.text, ctx.request_id()))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nothing {}

/// Always fails.
#[mcp_macros::tool]
async fn r#fail(_args: Nothing) -> Result<&'static str, Error> {
    Err(Error::tool("it failed, as asked"))
}

#[mcp_macros::prompt(
    name = "greet",
    description = "Greet someone",
    arguments(
        name(required, description = "Who to greet", title = "Name"),
        style,
        "extra-note"
    )
)]
async fn greeting(args: PromptArgs) -> Result<GetPromptResult, Error> {
    let name = args.get("name").map(String::as_str).unwrap_or("stranger");
    let style = args.get("style").map(String::as_str).unwrap_or("plainly");
    Ok(GetPromptResult {
        messages: vec![PromptMessage::user(format!("Greet {name} {style}."))],
        ..Default::default()
    })
}

/// Say hello.
#[mcp_macros::prompt]
async fn hello(_ctx: RequestContext) -> Result<GetPromptResult, Error> {
    Ok(GetPromptResult {
        messages: vec![PromptMessage::user("Hello!")],
        ..Default::default()
    })
}

/// Paths as a facade crate would offer them.
mod facade {
    pub use mcp_protocol as protocol;
    pub use mcp_server as server;
}

/// Reached through the facade's paths.
#[mcp_macros::prompt(crate = crate::facade::server, protocol = "crate::facade::protocol")]
async fn through_facade() -> Result<GetPromptResult, Error> {
    Ok(GetPromptResult::default())
}

/// Also through the facade.
#[mcp_macros::tool(crate = crate::facade::server)]
async fn facade_tool(_args: Nothing) -> Result<String, Error> {
    Ok("ok".into())
}

fn server() -> Server {
    let b = Server::builder("macros", "1.0.0");
    let b = add_tool(b);
    let b = echo_text_tool(b);
    let b = fail_tool(b);
    let b = facade_tool_tool(b);
    let b = greeting_prompt(b);
    let b = hello_prompt(b);
    through_facade_prompt(b).build()
}

/// Collected: registered by `collected::register`, whatever the order of the items.
#[mcp_macros::collect]
mod collected {
    use mcp_protocol::types::GetPromptResult;
    use mcp_server::{Error, PromptArgs};

    /// Not registered: no attribute.
    #[allow(dead_code)]
    async fn helper() {}

    /// First.
    #[prompt(name = "first-prompt")]
    async fn first(_args: PromptArgs) -> Result<GetPromptResult, Error> {
        Ok(GetPromptResult::default())
    }

    /// Second.
    #[mcp_macros::tool(name = "second-tool")]
    async fn second(_args: super::Nothing) -> Result<String, Error> {
        Ok("second".into())
    }

    /// Only under a cfg that is off: neither registered nor listed.
    #[cfg(any())]
    #[tool]
    async fn never(_args: super::Nothing) -> Result<String, Error> {
        Ok("never".into())
    }
}

#[test]
fn the_wire_name_is_next_to_the_registration_function() {
    assert_eq!(add_tool::NAME, "add");
    assert_eq!(echo_text_tool::NAME, "echo");
    assert_eq!(echo_text_tool::DESCRIPTION, "Echo the text back");
    assert_eq!(greeting_prompt::NAME, "greet");
    assert_eq!(fail_tool::NAME, "fail");
}

#[test]
fn collect_registers_every_item_of_the_module() {
    assert_eq!(collected::TOOLS, ["second-tool"]);
    assert_eq!(collected::PROMPTS, ["first-prompt"]);
    let server = Server::builder("collected", "1.0.0")
        .with(collected::register)
        .build();
    let tools: Vec<_> = server.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(tools, ["second-tool"]);
}

#[test]
fn tool_definitions_come_from_the_attribute_docs_and_types() {
    let tools = server().tools();
    let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "echo", "fail", "facade_tool"]);

    let add = &tools[0];
    assert_eq!(
        add.description.as_deref(),
        Some("Add two numbers.\n\nReturns their sum.")
    );
    assert_eq!(add.input_schema, mcp_server::schema_of::<AddArgs>());
    assert_eq!(add.input_schema["type"], "object");
    assert_eq!(add.input_schema["properties"]["a"]["type"], "number");
    assert_eq!(
        add.input_schema["properties"]["b"]["description"],
        "The second addend."
    );
    assert_eq!(add.input_schema["required"], json!(["a", "b"]));
    let out = add
        .output_schema
        .as_ref()
        .expect("Json<T> publishes an outputSchema");
    assert_eq!(out, &mcp_server::schema_of::<Sum>());
    assert_eq!(out["properties"]["sum"]["type"], "number");

    let echo = &tools[1];
    assert_eq!(echo.description.as_deref(), Some("Echo the text back"));
    assert_eq!(echo.input_schema["properties"]["text"]["type"], "string");
    assert_eq!(echo.output_schema, None);

    assert_eq!(tools[2].description.as_deref(), Some("Always fails."));
    assert_eq!(
        tools[3].description.as_deref(),
        Some("Also through the facade.")
    );
}

/// Talks newline-delimited JSON-RPC to a server over an in-memory pipe.
struct Client {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    next_id: i64,
}

impl Client {
    /// Connect and go through the legacy `initialize` handshake.
    async fn connect(server: Server) -> Self {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (sr, sw) = tokio::io::split(theirs);
        tokio::spawn(serve_connection(
            server,
            BufReader::new(sr),
            sw,
            ConnectionOptions::default(),
        ));
        let (r, w) = tokio::io::split(ours);
        let mut c = Self {
            write: w,
            read: BufReader::new(r),
            next_id: 0,
        };
        let init = c
            .request(
                "initialize",
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1.0.0"}
                }),
            )
            .await;
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
        assert_eq!(init["result"]["serverInfo"]["name"], "macros");
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c
    }

    async fn send(&mut self, msg: Value) {
        let mut line = msg.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.unwrap();
        self.write.flush().await.unwrap();
    }

    /// Send a request and return its response (skipping any notifications).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                self.read.read_line(&mut line),
            )
            .await
            .expect("a response in time")
            .unwrap();
            assert!(n > 0, "connection closed");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn generated_tools_answer_tools_call() {
    let mut c = Client::connect(server()).await;

    let r = c
        .request(
            "tools/call",
            json!({"name": "add", "arguments": {"a": 2, "b": 3.5}}),
        )
        .await;
    let result = &r["result"];
    assert_eq!(result["structuredContent"], json!({"sum": 5.5}), "{r}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        json!({"sum": 5.5})
    );
    assert_ne!(result["isError"], true);

    let r = c
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await;
    // The context is handed through: the tool sees this request's id (`initialize` was 1, `add` 2).
    assert_eq!(
        r["result"]["content"],
        json!([{"type": "text", "text": "hi (request 3)"}]),
        "{r}"
    );

    let r = c
        .request("tools/call", json!({"name": "fail", "arguments": {}}))
        .await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "it failed, as asked");

    let r = c
        .request(
            "tools/call",
            json!({"name": "facade_tool", "arguments": {}}),
        )
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "ok", "{r}");
}

#[tokio::test]
async fn generated_prompts_are_listed_and_rendered() {
    let mut c = Client::connect(server()).await;

    let r = c.request("prompts/list", json!({})).await;
    let prompts = &r["result"]["prompts"];
    assert_eq!(
        prompts[0],
        json!({
            "name": "greet",
            "description": "Greet someone",
            "arguments": [
                {"name": "name", "title": "Name", "description": "Who to greet", "required": true},
                {"name": "style", "required": false},
                {"name": "extra-note", "required": false}
            ]
        }),
        "{r}"
    );
    assert_eq!(
        prompts[1],
        json!({"name": "hello", "description": "Say hello."})
    );
    assert_eq!(
        prompts[2],
        json!({"name": "through_facade", "description": "Reached through the facade's paths."})
    );

    let r = c
        .request(
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": "Ada", "style": "warmly"}}),
        )
        .await;
    assert_eq!(
        r["result"]["messages"],
        json!([{"role": "user", "content": {"type": "text", "text": "Greet Ada warmly."}}]),
        "{r}"
    );

    let r = c.request("prompts/get", json!({"name": "hello"})).await;
    assert_eq!(
        r["result"]["messages"][0]["content"]["text"], "Hello!",
        "{r}"
    );
}
