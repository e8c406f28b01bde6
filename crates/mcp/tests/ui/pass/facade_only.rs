// Only `mcp` paths: the macros reach the server crate through the facade, not through `mcp_server`.
use mcp::protocol::JsonObject;
use mcp::server::{Error, Server};

/// Count the arguments.
#[mcp::tool(name = "count-args")]
async fn count(args: JsonObject) -> Result<String, Error> {
    Ok(args.len().to_string())
}

#[mcp::collect]
mod more {
    use mcp::protocol::JsonObject;
    use mcp::server::{Error, PromptArgs, RequestContext};
    use mcp::types::GetPromptResult;

    /// Echo the arguments.
    #[tool]
    pub async fn echo(_ctx: RequestContext, args: JsonObject) -> Result<String, Error> {
        Ok(format!("{args:?}"))
    }

    /// Say hello.
    #[prompt]
    async fn hello(_args: PromptArgs) -> Result<GetPromptResult, Error> {
        Ok(GetPromptResult::default())
    }
}

fn main() {
    let server = Server::builder("facade-only", "1.0.0")
        .with(count_tool)
        .with(more::register)
        .build();
    let names: Vec<String> = server.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["count-args", "echo"]);
    let prompts: Vec<String> = server.prompts().into_iter().map(|p| p.name).collect();
    assert_eq!(prompts, ["hello"]);
    assert_eq!(count_tool::NAME, "count-args");
    assert_eq!(count_tool::DESCRIPTION, "Count the arguments.");
    assert_eq!(more::echo_tool::NAME, "echo");
    assert_eq!(more::TOOLS, ["echo"]);
    assert_eq!(more::PROMPTS, ["hello"]);
}
