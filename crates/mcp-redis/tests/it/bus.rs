//! `RedisBus` liveness against a real `redis-server` (see `common`): what `alive` answers for a live node, a
//! node that stops, and one that never was, and how often it asks Redis. Without the binary the tests are
//! skipped with a loud message, unless `MCP_REQUIRE_PEERS=1` (as CI sets), when they fail.

use std::collections::BTreeMap;
use std::time::Duration;

use mcp_server::http::Bus;

use crate::common;
use common::{command_counts, raw, redis_server, reset_command_counts};

#[tokio::test]
async fn a_live_node_is_read_once_per_heartbeat_and_a_stopped_or_unknown_one_each_time() {
    let Some(srv) = redis_server().await else {
        return;
    };
    let heartbeat = Duration::from_millis(1200);
    let redis = mcp_redis::Redis::open(&srv.url())
        .unwrap()
        .heartbeat(heartbeat);
    let (a, b) = (redis.bus(), redis.bus());
    // A's heartbeat (a `SET` now and then, left out of the counts below) runs while this is held.
    let listening = a.subscribe();
    let mut c = raw(&srv.url()).await;
    assert!(b.alive(a.node()).await.unwrap());

    // Polled again and again within the TTL its key had left: Redis is not asked.
    reset_command_counts(&mut c).await;
    for _ in 0..20 {
        assert!(b.alive(a.node()).await.unwrap());
    }
    assert_eq!(command_counts(&mut c, &["set"]).await, BTreeMap::new());
    // Once that TTL has passed, it is read again (A refreshed it meanwhile: alive).
    tokio::time::sleep(heartbeat + Duration::from_millis(100)).await;
    reset_command_counts(&mut c).await;
    assert!(b.alive(a.node()).await.unwrap());
    assert!(b.alive(a.node()).await.unwrap());
    assert_eq!(
        command_counts(&mut c, &["set"]).await,
        BTreeMap::from([("pttl".to_owned(), 1)])
    );

    // A stops: within a heartbeat of its last refresh it is found dead, what was known of it
    // notwithstanding.
    drop(listening);
    tokio::time::sleep(heartbeat + Duration::from_millis(100)).await;
    assert!(!b.alive(a.node()).await.unwrap());

    // A node that is not there is asked about each time, twice (a death is never cached).
    let nobody = a.node() ^ 1;
    reset_command_counts(&mut c).await;
    assert!(!b.alive(nobody).await.unwrap());
    assert!(!b.alive(nobody).await.unwrap());
    assert_eq!(
        command_counts(&mut c, &["set"]).await,
        BTreeMap::from([("pttl".to_owned(), 4)])
    );
}
