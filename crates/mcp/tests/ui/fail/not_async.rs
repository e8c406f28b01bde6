use mcp::protocol::JsonObject;
use mcp::server::Error;

/// Not async.
#[mcp::tool]
fn blocking(args: JsonObject) -> Result<String, Error> {
    Ok(args.len().to_string())
}

fn main() {}
