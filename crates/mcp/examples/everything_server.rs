//! A server using every feature, driven by a client: typed tools (collected with `#[mcp::collect]`),
//! progress, cancellation, elicitation, a resource template, a prompt and resource subscriptions.
//!
//! `cargo run -p mcp-rs --example everything_server` serves it on a loopback port, exercises each feature from
//! a client (negotiating the newest revision), checks every answer and exits 0.

use std::collections::HashMap;
use std::time::Duration;

use mcp::client::{transport::HttpTransport, CallOptions, Client};
use mcp::protocol::ErrorObject;
use mcp::server::http::{serve_listener, HttpConfig};
use mcp::server::{Error, RequestContext, Server};
use mcp::types::{
    ClientCapabilities, ElicitRequestParams, ElicitResult, ElicitationCapability,
    ReadResourceResult, ResourceContents, ResourceTemplate, SubscriptionFilter,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The tools and the prompt; `#[mcp::collect]` gives `everything::register` and the wire names.
#[mcp::collect]
mod everything {
    use mcp::server::{Error, Json, PromptArgs, RequestContext};
    use mcp::types::{ElicitAction, ElicitRequestParams, GetPromptResult, PromptMessage};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct AddArgs {
        /// The first number.
        pub a: f64,
        /// The second number.
        pub b: f64,
    }

    #[derive(serde::Serialize, schemars::JsonSchema)]
    pub struct Sum {
        pub sum: f64,
    }

    /// Add two numbers (the result is structured: `outputSchema` and `structuredContent`).
    #[tool]
    pub async fn add(args: AddArgs) -> Result<Json<Sum>, Error> {
        Ok(Json(Sum {
            sum: args.a + args.b,
        }))
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct WorkArgs {
        /// How many steps; the tool reports progress after each.
        pub steps: u32,
    }

    /// Work in steps, reporting progress, until done or cancelled.
    #[tool(name = "long-work")]
    async fn work(ctx: RequestContext, args: WorkArgs) -> Result<String, Error> {
        for i in 1..=args.steps {
            ctx.progress(f64::from(i), Some(f64::from(args.steps)), None)
                .await;
            if i == args.steps {
                break;
            }
            // Each step waits for the next tick of a clock, or stops at once when the call is cancelled.
            tokio::select! {
                _ = ctx.cancellation().cancelled() => return Err(Error::tool(format!("cancelled at step {i}"))),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
        Ok(format!("{} steps done", args.steps))
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct NoArgs {}

    /// Ask the user's name, then greet them.
    #[tool]
    async fn greet(ctx: RequestContext, _args: NoArgs) -> Result<String, Error> {
        // Legacy sessions get an `elicitation/create` request; 2026-07-28 an `input_required` round trip.
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"]
        });
        let answer = ctx
            .elicit(
                "name",
                ElicitRequestParams::form("What is your name?", schema),
            )
            .await?;
        let name = match answer.action {
            ElicitAction::Accept => answer
                .content
                .and_then(|c| c.get("name").and_then(|n| n.as_str()).map(String::from)),
            _ => None,
        };
        Ok(format!("Hello, {}!", name.as_deref().unwrap_or("stranger")))
    }

    /// Ask for a haiku about a topic.
    #[prompt(arguments(topic(required, description = "What the haiku is about")))]
    pub async fn haiku(args: PromptArgs) -> Result<GetPromptResult, Error> {
        let topic = args.get("topic").map(String::as_str).unwrap_or("nothing");
        Ok(GetPromptResult {
            messages: vec![PromptMessage::user(format!("Write a haiku about {topic}."))],
            ..Default::default()
        })
    }
}

const STATUS_URI: &str = "status://server";

fn server() -> Server {
    let template = ResourceTemplate {
        uri_template: "greeting://{name}".into(),
        name: "greeting".into(),
        description: Some("A greeting for anyone".into()),
        mime_type: Some("text/plain".into()),
        ..Default::default()
    };
    Server::builder("everything-example", "1.0.0")
        .with(everything::register)
        .resource_template(
            template,
            |_ctx: RequestContext, uri: String, vars: HashMap<String, String>| async move {
                let name = vars.get("name").cloned().unwrap_or_default();
                Ok::<_, Error>(ReadResourceResult {
                    contents: vec![ResourceContents::text(
                        uri,
                        "text/plain",
                        format!("Hello, {name}!"),
                    )],
                    meta: None,
                })
            },
        )
        .text_resource(STATUS_URI, "status", "text/plain", "running")
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = server();
    let bound = serve_listener(
        server.clone(),
        HttpConfig::default(),
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let url = format!("http://{}/mcp", bound.local_addr()?);
    tokio::spawn(bound.run());

    let client = Client::builder()
        .capabilities(ClientCapabilities {
            elicitation: Some(ElicitationCapability::default()),
            ..Default::default()
        })
        .elicitation_handler(|_req: ElicitRequestParams| async move {
            let mut content = serde_json::Map::new();
            content.insert("name".into(), json!("Ada"));
            Ok::<_, ErrorObject>(ElicitResult::accept(content))
        })
        .connect(HttpTransport::new(url)?)
        .await?;
    println!(
        "connected: protocol {} ({:?} era)",
        client.protocol_version(),
        client.era()
    );

    // Typed tools, listed under their wire names.
    let names: Vec<String> = client
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, everything::TOOLS);
    assert_eq!(names, ["add", "long-work", "greet"]);
    let r = client
        .call_tool(everything::add_tool::NAME, json!({"a": 2, "b": 40}))
        .await?;
    assert_eq!(r.structured_content, Some(json!({"sum": 42.0})));
    println!(
        "tools {names:?}; add(2, 40) -> {}",
        json!(r.structured_content)
    );

    // Progress.
    let (tx, mut progress) = mpsc::channel(16);
    let options = CallOptions::default().progress(tx);
    let r = client
        .call_tool_with("long-work", json!({"steps": 3}), options)
        .await?;
    assert_eq!(r.text_content(), "3 steps done");
    let mut steps = Vec::new();
    while let Ok(p) = progress.try_recv() {
        steps.push(p.progress);
    }
    assert_eq!(steps, [1.0, 2.0, 3.0]);
    println!("long-work(3): progress {steps:?}");

    // Cancellation, once the first progress report shows the work started.
    let cancel = CancellationToken::new();
    let (tx, mut progress) = mpsc::channel(16);
    let options = CallOptions::default().progress(tx).cancel(cancel.clone());
    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call_tool_with("long-work", json!({"steps": 1000}), options)
                .await
        })
    };
    let first = tokio::time::timeout(Duration::from_secs(10), progress.recv()).await?;
    assert_eq!(first.map(|p| p.progress), Some(1.0));
    cancel.cancel();
    let e = call.await?.expect_err("a cancelled call fails");
    assert!(e.is_cancelled(), "{e}");
    println!("long-work(1000): {e}");

    // Elicitation: the server asks, the client's handler answers.
    let r = client.call_tool("greet", json!({})).await?;
    assert_eq!(r.text_content(), "Hello, Ada!");
    println!("greet -> {:?}", r.text_content());

    // A resource template.
    let templates = client.list_all_resource_templates().await?;
    assert_eq!(templates[0].uri_template, "greeting://{name}");
    let r = client.read_resource("greeting://Grace").await?;
    match r.contents.first() {
        Some(ResourceContents::Text { text, .. }) => assert_eq!(text, "Hello, Grace!"),
        other => panic!("unexpected contents {other:?}"),
    }
    println!("read greeting://Grace -> \"Hello, Grace!\"");

    // A prompt.
    let prompts = client.list_all_prompts().await?;
    assert_eq!(prompts[0].name, everything::haiku_prompt::NAME);
    let args = [("topic".to_owned(), "Rust".to_owned())]
        .into_iter()
        .collect();
    let p = client.get_prompt("haiku", Some(args)).await?;
    assert_eq!(
        p.messages[0].content.as_text(),
        Some("Write a haiku about Rust.")
    );
    println!(
        "prompt haiku(topic=Rust) -> {:?}",
        p.messages[0].content.as_text().unwrap_or_default()
    );

    // Subscriptions: the client listens for updates of one resource; the server announces a change.
    let filter = SubscriptionFilter {
        resource_subscriptions: Some(vec![STATUS_URI.to_owned()]),
        ..Default::default()
    };
    let mut updates = client.listen(filter).await?;
    server.notify_resource_updated(STATUS_URI);
    let n = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await?
        .ok_or("the subscription ended")?;
    assert_eq!(n.method, "notifications/resources/updated");
    assert_eq!(
        n.params.as_ref().map(|p| p["uri"].clone()),
        Some(json!(STATUS_URI))
    );
    println!("subscription: {} for {STATUS_URI}", n.method);
    updates.close();

    client.close().await;
    println!("everything_server: ok");
    Ok(())
}
