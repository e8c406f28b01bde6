//! `RedisSessionStore` on its own against a real `redis-server` (started on a free loopback port, no
//! persistence, killed when done): what each call returns, the sliding expiry, and one Redis command per
//! call. Without the binary the tests are skipped with a loud message, unless `MCP_REQUIRE_PEERS=1` (as CI
//! sets), when they fail.

use std::time::Duration;

use mcp_server::http::{SessionRecord, SessionStore};

use crate::common;
use common::{command_counts, raw, redis_server, reset_command_counts};

fn record(id: &str, level: Option<&str>) -> SessionRecord {
    let mut r = serde_json::json!({
        "id": id,
        "version": "2025-11-25",
        "clientCapabilities": {"roots": {"listChanged": true}},
        "clientInfo": {"name": "t", "version": "1"},
        "subscriptions": ["file:///a b"],
        "initialized": true,
        "owner": {"subject": "alice"},
    });
    if let Some(l) = level {
        r["logLevel"] = l.into();
    }
    serde_json::from_value(r).unwrap()
}

#[tokio::test]
async fn records_round_trip_with_revisions_and_are_gone_after_remove() {
    let Some(srv) = redis_server().await else {
        return;
    };
    let store = mcp_redis::Redis::open(&srv.url()).unwrap().session_store();
    let idle = Duration::from_secs(60);
    let first = record("s1", None);
    store.create(&first, idle).await.unwrap();
    assert_eq!(store.touch("s1", idle).await.unwrap(), Some(0));
    assert_eq!(store.load("s1").await.unwrap(), Some(first));

    let changed = record("s1", Some("debug"));
    assert_eq!(store.update(&changed, idle).await.unwrap(), Some(1));
    assert_eq!(store.update(&changed, idle).await.unwrap(), Some(2));
    assert_eq!(store.touch("s1", idle).await.unwrap(), Some(2));
    let loaded = store.load("s1").await.unwrap().unwrap();
    assert_eq!(loaded.revision, 2);
    assert_eq!(loaded.log_level, changed.log_level);
    assert_eq!(loaded.subscriptions, ["file:///a b"]);

    assert!(store.remove("s1").await.unwrap());
    assert_eq!(store.touch("s1", idle).await.unwrap(), None);
    assert_eq!(store.load("s1").await.unwrap(), None);
    assert_eq!(store.update(&changed, idle).await.unwrap(), None);
    assert!(!store.remove("s1").await.unwrap());
    // An update of a session that is gone must not bring it back.
    assert_eq!(store.touch("s1", idle).await.unwrap(), None);
}

#[tokio::test]
async fn touch_and_update_slide_the_expiry() {
    let Some(srv) = redis_server().await else {
        return;
    };
    let store = mcp_redis::Redis::open(&srv.url()).unwrap().session_store();
    let mut c = raw(&srv.url()).await;
    let pttl = |c: &mut redis::aio::MultiplexedConnection| {
        let mut c = c.clone();
        async move {
            redis::cmd("PTTL")
                .arg("mcp:sess:s2")
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    store
        .create(&record("s2", None), Duration::from_secs(10))
        .await
        .unwrap();
    let t = pttl(&mut c).await;
    assert!((9_000..=10_000).contains(&t), "{t}");
    store.touch("s2", Duration::from_secs(100)).await.unwrap();
    let t = pttl(&mut c).await;
    assert!((99_000..=100_000).contains(&t), "{t}");
    store
        .update(&record("s2", Some("info")), Duration::from_secs(1000))
        .await
        .unwrap();
    let t = pttl(&mut c).await;
    assert!((999_000..=1_000_000).contains(&t), "{t}");
}

/// The per-request cost on a fleet: a touch is one command in one round trip, and so is a create.
#[tokio::test]
async fn touch_and_create_are_one_command_each() {
    let Some(srv) = redis_server().await else {
        return;
    };
    let store = mcp_redis::Redis::open(&srv.url()).unwrap().session_store();
    let mut c = raw(&srv.url()).await;
    let idle = Duration::from_secs(60);
    // Warm the store's connection, then count from zero.
    store.touch("nobody", idle).await.unwrap();
    reset_command_counts(&mut c).await;
    for i in 0..10 {
        store
            .create(&record(&format!("c{i}"), None), idle)
            .await
            .unwrap();
    }
    for i in 0..10 {
        assert_eq!(store.touch(&format!("c{i}"), idle).await.unwrap(), Some(0));
    }
    let calls = command_counts(&mut c, &[]).await;
    assert_eq!(
        calls.into_iter().collect::<Vec<_>>(),
        [("getex".to_owned(), 10), ("set".to_owned(), 10)]
    );
}
