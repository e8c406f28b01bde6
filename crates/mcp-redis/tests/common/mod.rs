//! What the tests of this crate share: a `redis-server` of their own, or a skip.

use mcp_redis::testing::RedisServer;

/// A `redis-server` of this test's own, or `None` (skip, with a message) when the binary is missing and
/// CI (`MCP_REQUIRE_PEERS=1`) does not require it.
pub async fn redis_server() -> Option<RedisServer> {
    match RedisServer::start().await {
        Ok(s) => Some(s),
        Err(e)
            if e.is_not_installed() && std::env::var("MCP_REQUIRE_PEERS").as_deref() != Ok("1") =>
        {
            eprintln!("\n!!! SKIPPED: {e}; `apt-get install redis-server` to run this test !!!\n");
            None
        }
        Err(e) => panic!("redis-server: {e}"),
    }
}
