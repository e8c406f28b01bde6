// `crate = path` for a user who reaches the server crate through a re-export of their own (a company SDK
// crate, say): here a module standing for it. The default lookup would also work; the override must too.
mod my_sdk {
    pub use mcp::server;
}

use mcp::protocol::JsonObject;
use mcp::server::{Error, Server};

/// Ping.
#[mcp::tool(crate = my_sdk::server)]
async fn ping(_args: JsonObject) -> Result<&'static str, Error> {
    Ok("pong")
}

// The module's `crate` reaches every item in it, and the string form is accepted too.
#[mcp::collect(crate = "crate::my_sdk::server")]
mod tools {
    use mcp::protocol::JsonObject;
    use mcp::server::Error;

    /// Pong.
    #[mcp::tool(name = "pong")]
    async fn pong(_args: JsonObject) -> Result<&'static str, Error> {
        Ok("ping")
    }
}

fn main() {
    let server = Server::builder("override", "1.0.0")
        .with(ping_tool)
        .with(tools::register)
        .build();
    let names: Vec<String> = server.tools().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["ping", "pong"]);
    assert_eq!(tools::TOOLS, ["pong"]);
}
