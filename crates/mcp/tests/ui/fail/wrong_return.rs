use mcp::protocol::JsonObject;

/// Returns a bare string, not a `Result`.
#[mcp::tool]
async fn bare(args: JsonObject) -> String {
    args.len().to_string()
}

fn main() {}
