use mcp::protocol::JsonObject;
use mcp::server::{Error, RequestContext};

/// The context comes first.
#[mcp::tool]
async fn swapped(args: JsonObject, ctx: RequestContext) -> Result<String, Error> {
    let _ = ctx;
    Ok(args.len().to_string())
}

fn main() {}
