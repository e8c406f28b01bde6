use mcp::server::Error;

// Neither `Deserialize` nor `JsonSchema`: the tool's input schema cannot be derived.
struct Plain {
    text: String,
}

/// Echo.
#[mcp::tool]
async fn echo(args: Plain) -> Result<String, Error> {
    Ok(args.text)
}

fn main() {}
