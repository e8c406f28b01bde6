use mcp::protocol::JsonObject;
use mcp::server::Error;

/// Titled.
#[mcp::tool(title = "Nice title")]
async fn titled(args: JsonObject) -> Result<String, Error> {
    Ok(args.len().to_string())
}

fn main() {}
