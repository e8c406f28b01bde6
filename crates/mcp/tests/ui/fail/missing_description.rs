use mcp::protocol::JsonObject;
use mcp::server::Error;

#[mcp::tool]
async fn undocumented(args: JsonObject) -> Result<String, Error> {
    Ok(args.len().to_string())
}

fn main() {}
