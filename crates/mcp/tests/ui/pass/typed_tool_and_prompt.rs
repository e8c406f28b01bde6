// A typed tool (schema from the arguments type, structured output from `Json`) and a prompt with declared
// arguments, written as a new user would against `mcp` alone (plus serde and schemars for the derives).
use mcp::server::{Error, Json, PromptArgs, RequestContext, Server};
use mcp::types::{GetPromptResult, PromptMessage};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct DivArgs {
    /// The dividend.
    a: f64,
    /// The divisor.
    b: f64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Quotient {
    value: f64,
}

#[mcp::tool(name = "divide", description = "Divide a by b")]
async fn div(_ctx: RequestContext, args: DivArgs) -> Result<Json<Quotient>, Error> {
    if args.b == 0.0 {
        return Err(Error::tool("division by zero"));
    }
    Ok(Json(Quotient {
        value: args.a / args.b,
    }))
}

/// Write a haiku.
#[mcp::prompt(arguments(topic(required, description = "What about"), mood))]
async fn haiku(args: PromptArgs) -> Result<GetPromptResult, Error> {
    let topic = args.get("topic").cloned().unwrap_or_default();
    Ok(GetPromptResult {
        messages: vec![PromptMessage::user(format!("Write a haiku about {topic}."))],
        ..Default::default()
    })
}

fn main() {
    let server = Server::builder("typed", "1.0.0")
        .with(div_tool)
        .with(haiku_prompt)
        .build();
    let tool = &server.tools()[0];
    assert_eq!(tool.name, div_tool::NAME);
    assert_eq!(tool.description.as_deref(), Some("Divide a by b"));
    let schema = serde_json::to_value(&tool.input_schema).unwrap();
    assert_eq!(schema["properties"]["b"]["description"], "The divisor.");
    assert!(tool.output_schema.is_some());

    let prompt = &server.prompts()[0];
    assert_eq!(prompt.name, haiku_prompt::NAME);
    let args = prompt.arguments.as_ref().unwrap();
    assert_eq!(args[0].name, "topic");
    assert_eq!(args[0].required, Some(true));
    assert_eq!(args[1].name, "mood");
    assert_eq!(args[1].required, Some(false));
}
