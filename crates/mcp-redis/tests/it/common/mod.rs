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

/// A plain connection of the test's own, to look at what the code under test left in Redis.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Forget the command counts so far (`CONFIG RESETSTAT`).
pub async fn reset_command_counts(c: &mut redis::aio::MultiplexedConnection) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(c)
        .await
        .unwrap();
}

/// The commands Redis ran since the last reset and how many times each (`INFO commandstats`), without the
/// test's own (`info`, `config|...`) and those named in `ignored`.
pub async fn command_counts(
    c: &mut redis::aio::MultiplexedConnection,
    ignored: &[&str],
) -> std::collections::BTreeMap<String, u64> {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(c)
        .await
        .unwrap();
    stats
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let n = rest.split(',').find_map(|f| f.strip_prefix("calls="))?;
            let n = n.parse().ok()?;
            (name != "info" && !name.starts_with("config") && !ignored.contains(&name))
                .then(|| (name.to_owned(), n))
        })
        .collect()
}
