//! A Redis backend for [`mcp_server`]'s Streamable HTTP endpoint: N server processes sharing one Redis serve
//! legacy sessions as one server, whatever node each HTTP request lands on.
//!
//! - [`RedisSessionStore`]: session records (version, client capabilities and info, log level,
//!   subscriptions, owner) in one key per session with a sliding expiry (Redis TTL): a DELETE or an expiry
//!   is a 404 on every node at once, because every request touches the record.
//! - [`RedisEventStore`]: the events of resumable streams in a Redis Stream per stream, bounded
//!   (`MAXLEN ~`), written before they are sent (`XADD`), replayed with `XRANGE`: a client resumes with
//!   `Last-Event-ID` on any node, and a request's stream still being written by another node is followed
//!   live (`XREAD BLOCK` from the last event replayed, so nothing is missed or sent twice) until its end,
//!   which is an entry of the stream too.
//! - Node liveness: each node keeps a heartbeat key (`<prefix>node:<id>`, [`Redis::heartbeat`]) and
//!   records itself as the owner of each request stream it opens. A client resuming the stream of a
//!   request whose node died gets the stored events, then a JSON-RPC error for the unanswered request, and
//!   the end of the stream; a request that completed is replayed as it was. Redis being unreachable is
//!   never taken for a death: the request gets 503. A node found alive is taken for alive for the TTL its
//!   key had left ([`RedisBus`] does not ask again before then).
//! - [`RedisTaskStore`]: the records of the tasks extension (`ServerBuilder::task_store`), one key per task
//!   with the task's TTL, changed only by compare-and-set on the record's version: `tasks/get` answers on any
//!   node, and two nodes can never both apply a transition.
//! - [`RedisBus`]: messages between nodes on a pub/sub channel: the client's answer to a server→client
//!   request reaches the node whose handler awaits it, a cancel reaches the node running the request, a
//!   DELETE ends the session's streams on every node, and list changes, resource updates and task status
//!   changes reach the `subscriptions/listen` streams (2026-07-28) and GET streams of every node. A plain
//!   2026-07-28 request (`tools/call` and the like) sends nothing to Redis at all.
//!
//! When Redis cannot be reached, requests that need it get HTTP 503 with a JSON-RPC error naming the cause;
//! the connection is re-established by itself (the client's `ConnectionManager`) once Redis is back.
//!
//! # Why the `redis` crate
//!
//! It is the most used Redis client for Rust and is kept by the Redis project itself; its tokio
//! `ConnectionManager` multiplexes every request of a node over one connection and reconnects by itself, it
//! has the Streams commands and Lua scripts this backend needs, and it starts without Redis being up (a
//! node comes up and answers 503 until Redis does). `fred` would do too, with more machinery than is needed
//! here.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_server::{Server, http::{HttpConfig, serve}};
//! let server = Server::builder("notes", "1.0.0").build();
//! let redis = mcp_redis::Redis::open("redis://127.0.0.1:6379/")?;
//! // Every node runs the same: any node serves any session.
//! let config = redis.configure(HttpConfig::default());
//! serve(server, config, "127.0.0.1:3000".parse()?).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use mcp_server::http::{
    Bus, BusMessage, EventStore, FollowEvent, Following, HttpConfig, SessionRecord, SessionStore,
    StoreError, StreamOwner,
};
use mcp_server::tasks::{TaskRecord, TaskStore, TaskStoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

/// A connection to one Redis (one database), shared by the stores and the bus made from it.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: Arc<str>,
    max_events: usize,
    heartbeat: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// Connect lazily to the Redis at `url` (`redis://host:port/db`): nothing is sent until the first
    /// request, so a node starts even while Redis is down. Commands time out after 2 s and a lost connection
    /// is re-established on the next command.
    ///
    /// # Errors
    ///
    /// The URL is not a Redis URL.
    pub fn open(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            // Fail fast: a request waiting on Redis holds a client; the next one tries again.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            conn,
            prefix: "mcp:".into(),
            max_events: 1024,
            heartbeat: Duration::from_secs(10),
        })
    }

    /// Prefix of every key and channel (default `mcp:`), to share a Redis between fleets.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Most events kept per stream (default 1024, approximately: `MAXLEN ~`).
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// How long a node's heartbeat key lives (default 10 s; refreshed every third of it). A node whose key
    /// is gone for a whole refresh period more is dead to the others: a client resuming a stream it was
    /// writing gets an error for its unanswered request instead of waiting forever. Shorter finds dead
    /// nodes sooner; it must stay well above the longest pause a live node may take (and a Redis restart
    /// is bridged: a missing key is checked twice, a refresh period apart).
    ///
    /// ```
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let redis = mcp_redis::Redis::open("redis://127.0.0.1:6379/")?.heartbeat(Duration::from_secs(3));
    /// # let _ = redis; Ok(()) }
    /// ```
    pub fn heartbeat(mut self, ttl: Duration) -> Self {
        self.heartbeat = ttl.max(Duration::from_millis(30));
        self
    }

    /// The session store on this Redis.
    pub fn session_store(&self) -> RedisSessionStore {
        RedisSessionStore {
            redis: self.clone(),
        }
    }

    /// The event store on this Redis; each stream expires `ttl` after its last event.
    pub fn event_store(&self, ttl: Duration) -> RedisEventStore {
        RedisEventStore {
            redis: self.clone(),
            ttl,
        }
    }

    /// The task store on this Redis, for `ServerBuilder::task_store`.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let redis = mcp_redis::Redis::open("redis://127.0.0.1:6379/")?;
    /// let server = mcp_server::Server::builder("jobs", "1.0.0")
    ///     .task_store(redis.task_store())
    ///     .build();
    /// # let _ = server; Ok(()) }
    /// ```
    pub fn task_store(&self) -> RedisTaskStore {
        RedisTaskStore {
            redis: self.clone(),
        }
    }

    /// The bus on this Redis, for one node.
    pub fn bus(&self) -> RedisBus {
        RedisBus {
            redis: self.clone(),
            node: rand_node(),
            alive_until: Arc::default(),
        }
    }

    /// `config` with the session store, event store and bus on this Redis (events kept as long as an idle
    /// session is).
    pub fn configure(&self, config: HttpConfig) -> HttpConfig {
        let ttl = config.session_idle_timeout;
        config
            .session_store(Arc::new(self.session_store()))
            .event_store(Arc::new(self.event_store(ttl)))
            .bus(Arc::new(self.bus()))
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }
}

fn rand_node() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // Random per process and per call: std's hasher keys are random.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn down(e: redis::RedisError) -> StoreError {
    StoreError::unavailable(format!("redis: {e}"))
}

fn ms(d: Duration) -> u64 {
    d.as_millis().clamp(1, u128::from(u64::MAX)) as u64
}

/// Session records in Redis: one string per session (`<prefix>sess:<id>`, the record's revision in decimal,
/// a space, then the record as JSON) whose TTL is the idle timeout, slid by every request.
///
/// Every store call is one Redis command: `create` is `SET … PX`, `touch` is `GETEX … PX` (slides the
/// expiry and reads the revision at once; Redis 6.2 or later), `load` is `GET`, `update` a short Lua script
/// (`GET`, `SET … PX`) and `remove` is `DEL`. A legacy request on a session this node already holds costs
/// one round trip and one command.
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: Redis,
}

/// `update`: the new revision, or -1 when the session is gone. Revisions stay far below 2^53, where Lua's
/// numbers (doubles) are exact; `%d` keeps them out of exponent notation.
const UPDATE: &str = r"
local s = redis.call('GET', KEYS[1])
if not s then return -1 end
local sp = string.find(s, ' ', 1, true)
if not sp then return redis.error_reply('bad session record') end
local v = tonumber(string.sub(s, 1, sp - 1)) + 1
redis.call('SET', KEYS[1], string.format('%d', v) .. ' ' .. ARGV[1], 'PX', ARGV[2])
return v
";

/// The revision at the head of a stored session value (`<revision> <json>`).
fn revision_of(value: &[u8]) -> Result<u64, StoreError> {
    let digits = value.split(|&b| b == b' ').next().unwrap_or_default();
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| StoreError::unavailable("bad session record: no revision"))
}

impl SessionStore for RedisSessionStore {
    fn create<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.redis.key("sess", &record.id);
            let mut value = b"0 ".to_vec();
            serde_json::to_writer(&mut value, record).map_err(StoreError::unavailable)?;
            let mut c = self.redis.conn.clone();
            redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ms(idle))
                .query_async::<()>(&mut c)
                .await
                .map_err(down)
        })
    }

    fn load<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let mut c = self.redis.conn.clone();
            let value: Option<Vec<u8>> = c.get(self.redis.key("sess", id)).await.map_err(down)?;
            let Some(value) = value else { return Ok(None) };
            let revision = revision_of(&value)?;
            let json = value
                .iter()
                .position(|&b| b == b' ')
                .map_or(&value[..0], |sp| &value[sp + 1..]);
            let mut record: SessionRecord = serde_json::from_slice(json)
                .map_err(|e| StoreError::unavailable(format!("bad session record: {e}")))?;
            record.revision = revision;
            Ok(Some(record))
        })
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let mut c = self.redis.conn.clone();
            let value: Option<Vec<u8>> = redis::cmd("GETEX")
                .arg(self.redis.key("sess", id))
                .arg("PX")
                .arg(ms(idle))
                .query_async(&mut c)
                .await
                .map_err(down)?;
            value.map(|v| revision_of(&v)).transpose()
        })
    }

    fn update<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(record).map_err(StoreError::unavailable)?;
            let mut c = self.redis.conn.clone();
            let v: i64 = redis::Script::new(UPDATE)
                .key(self.redis.key("sess", &record.id))
                .arg(json)
                .arg(ms(idle))
                .invoke_async(&mut c)
                .await
                .map_err(down)?;
            Ok(u64::try_from(v).ok())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut c = self.redis.conn.clone();
            let n: u64 = c.del(self.redis.key("sess", id)).await.map_err(down)?;
            Ok(n > 0)
        })
    }
}

/// Stream events in Redis Streams: one stream per SSE stream (`<prefix>ev:<session>:<stream>`), entry id
/// `1-<seq>`, bounded with `MAXLEN ~`, expiring `ttl` after its last event; a set per session
/// (`<prefix>evs:<session>`) names its streams so they are dropped with it.
#[derive(Debug, Clone)]
pub struct RedisEventStore {
    redis: Redis,
    ttl: Duration,
}

impl RedisEventStore {
    fn stream_key(&self, session: &str, stream: u64) -> String {
        self.redis.key("ev", &format!("{session}:{stream}"))
    }
    fn meta_key(&self, session: &str, stream: u64) -> String {
        self.redis.key("evm", &format!("{session}:{stream}"))
    }

    /// Add to `pipe`: slide `key`'s expiry, and name it in the session's set of stream keys (whose expiry
    /// slides too), so that ending the session finds every key of its streams.
    fn kept_with_session<'p>(
        &self,
        pipe: &'p mut redis::Pipeline,
        session: &str,
        key: &str,
    ) -> &'p mut redis::Pipeline {
        let set = self.redis.key("evs", session);
        let ttl = ms(self.ttl) as i64;
        pipe.pexpire(key, ttl)
            .ignore()
            .sadd(&set, key)
            .ignore()
            .pexpire(&set, ttl)
            .ignore()
    }

    /// Add entry `1-<seq>` with one field to the stream (bounded by `MAXLEN ~`), and slide the expiry of
    /// the stream and of the session's set of streams, which names it.
    async fn xadd(
        &self,
        session: &str,
        stream: u64,
        seq: u64,
        field: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let key = self.stream_key(session, stream);
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.redis.max_events)
            .arg(format!("1-{seq}"))
            .arg(field)
            .arg(value)
            .ignore();
        let mut c = self.redis.conn.clone();
        self.kept_with_session(&mut pipe, session, &key)
            .query_async::<()>(&mut c)
            .await
            .map_err(down)
    }
}

/// How long one blocking read of a followed stream waits before the follower reports a quiet spell.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);

/// What a followed stream still has to yield, and where it stands.
struct Tail {
    store: RedisEventStore,
    key: String,
    /// The entry id of the last event read.
    last: String,
    ready: std::collections::VecDeque<FollowEvent>,
    /// A connection of the follower's own: `XREAD BLOCK` would hold up every other command on the shared
    /// one.
    conn: Option<redis::aio::MultiplexedConnection>,
    done: bool,
    /// The first quiet spell (the replay caught up) was reported.
    caught_up: bool,
}

impl Tail {
    /// Queue the events of `entries` (an `f` field is an event's frame, an `e` field the stream's end).
    fn take(&mut self, entries: Vec<redis::streams::StreamId>) {
        for e in entries {
            self.last = e.id.clone();
            if let Some(redis::Value::BulkString(b)) = e.map.get("f") {
                self.ready
                    .push_back(FollowEvent::Frame(Bytes::from(b.clone())));
            } else if e.map.contains_key("e") {
                self.ready.push_back(FollowEvent::End);
                break;
            }
        }
    }

    async fn next(mut self) -> Option<(Result<FollowEvent, StoreError>, Self)> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                self.done = ev == FollowEvent::End;
                return Some((Ok(ev), self));
            }
            if self.done {
                return None;
            }
            if !self.caught_up {
                self.caught_up = true;
                return Some((Ok(FollowEvent::Quiet), self));
            }
            if self.conn.is_none() {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(FOLLOW_BLOCK + Duration::from_secs(2)));
                match self
                    .store
                    .redis
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.done = true;
                        return Some((Err(down(e)), self));
                    }
                }
            }
            let conn = self.conn.as_mut()?;
            let read: Result<Option<redis::streams::StreamReadReply>, _> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(256)
                .arg("BLOCK")
                .arg(FOLLOW_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last)
                .query_async(conn)
                .await;
            match read {
                Ok(Some(r)) if r.keys.iter().any(|k| !k.ids.is_empty()) => {
                    for k in r.keys {
                        self.take(k.ids);
                    }
                }
                Ok(_) => return Some((Ok(FollowEvent::Quiet), self)),
                Err(e) => {
                    self.done = true;
                    return Some((Err(down(e)), self));
                }
            }
        }
    }
}

impl EventStore for RedisEventStore {
    fn append<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        seq: u64,
        frame: Bytes,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.xadd(session, stream, seq, "f", &frame).await })
    }

    fn replay<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<Bytes>>, StoreError>> {
        Box::pin(async move {
            let key = self.stream_key(session, stream);
            let mut c = self.redis.conn.clone();
            let (exists, entries): (bool, redis::streams::StreamRangeReply) = redis::pipe()
                .exists(&key)
                .cmd("XRANGE")
                .arg(&key)
                .arg(format!("(1-{after}"))
                .arg("+")
                .query_async(&mut c)
                .await
                .map_err(down)?;
            if !exists {
                return Ok(None);
            }
            let frames = entries
                .ids
                .into_iter()
                .filter_map(|e| match e.map.get("f") {
                    Some(redis::Value::BulkString(b)) => Some(Bytes::from(b.clone())),
                    _ => None,
                })
                .collect();
            Ok(Some(frames))
        })
    }

    fn open_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        owner: &'a StreamOwner,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let meta = self.meta_key(session, stream);
            let request = match &owner.request {
                Some(id) => serde_json::to_string(id).map_err(StoreError::unavailable)?,
                None => String::new(),
            };
            let mut pipe = redis::pipe();
            pipe.hset_multiple(&meta, &[("o", owner.node.to_string()), ("r", request)])
                .ignore();
            let mut c = self.redis.conn.clone();
            self.kept_with_session(&mut pipe, session, &meta)
                .query_async::<()>(&mut c)
                .await
                .map_err(down)
        })
    }

    fn end_stream<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        seq: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        // The end is an entry of the stream itself, after its last event: a follower reading in order cannot
        // see it before any event.
        Box::pin(self.xadd(session, stream, seq, "e", b"1"))
    }

    fn follow<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<Following>, StoreError>> {
        Box::pin(async move {
            let key = self.stream_key(session, stream);
            let mut c = self.redis.conn.clone();
            // One transaction: the owner, and every event stored so far (with the end, if written).
            let (meta, exists, entries): (
                std::collections::HashMap<String, String>,
                bool,
                redis::streams::StreamRangeReply,
            ) = redis::pipe()
                .atomic()
                .hgetall(self.meta_key(session, stream))
                .exists(&key)
                .cmd("XRANGE")
                .arg(&key)
                .arg(format!("(1-{after}"))
                .arg("+")
                .query_async(&mut c)
                .await
                .map_err(down)?;
            if !exists && meta.is_empty() {
                return Ok(None);
            }
            let owner = meta.get("o").and_then(|o| o.parse().ok()).map(|node| {
                let request = meta
                    .get("r")
                    .filter(|r| !r.is_empty())
                    .and_then(|r| serde_json::from_str(r).ok());
                StreamOwner::new(node, request)
            });
            let mut tail = Tail {
                store: self.clone(),
                key,
                last: format!("1-{after}"),
                ready: Default::default(),
                conn: None,
                done: false,
                caught_up: false,
            };
            tail.take(entries.ids);
            let events = futures::stream::unfold(tail, Tail::next);
            Ok(Some(Following::new(owner, Box::pin(events))))
        })
    }

    fn forget<'a>(&'a self, session: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let set = self.redis.key("evs", session);
            let mut c = self.redis.conn.clone();
            let keys: Vec<String> = c.smembers(&set).await.map_err(down)?;
            let mut p = redis::pipe();
            for k in &keys {
                p.del(k).ignore();
            }
            p.del(&set).ignore();
            p.query_async::<()>(&mut c).await.map_err(down)
        })
    }
}

/// Messages between nodes on one pub/sub channel (`<prefix>bus`), as JSON.
///
/// Pub/sub delivers to the nodes connected at the time: a node that is disconnected from Redis misses what
/// is published meanwhile (a client's answer then times out like an unanswered one).
#[derive(Debug, Clone)]
pub struct RedisBus {
    redis: Redis,
    node: u64,
    /// Other nodes found alive, each with the time until which its heartbeat key is sure to stay (when it
    /// was read, plus the TTL it had left): asked again before then, the answer is the same, so Redis is not
    /// asked. The key is refreshed every third of its TTL, so what is left is at least two thirds of it: a
    /// task polled on this node every few hundred milliseconds costs a read every two thirds of a heartbeat
    /// at most.
    alive_until: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl Bus for RedisBus {
    fn node(&self) -> u64 {
        self.node
    }

    fn publish(&self, msg: BusMessage) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&msg).map_err(StoreError::unavailable)?;
            let mut c = self.redis.conn.clone();
            c.publish::<_, _, ()>(self.redis.key("bus", ""), json)
                .await
                .map_err(down)
        })
    }

    fn subscribe(&self) -> BoxStream<'static, BusMessage> {
        let (tx, rx) = tokio::sync::mpsc::channel::<BusMessage>(1024);
        // This node's heartbeat, for as long as its endpoint listens (a dead process stops it, and so does
        // a runtime that is shut down). A failed refresh is retried at the next tick: the key outlives two.
        let beat = tx.clone();
        let (mut c, key, ttl) = (
            self.redis.conn.clone(),
            self.redis.key("node", &self.node.to_string()),
            self.redis.heartbeat,
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = beat.closed() => break,
                }
                let set: Result<(), _> = redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("PX")
                    .arg(ms(ttl))
                    .query_async(&mut c)
                    .await;
                if let Err(e) = set {
                    tracing::warn!(error = %e, "redis bus: heartbeat not refreshed");
                }
            }
        });
        let client = self.redis.client.clone();
        let channel = self.redis.key("bus", "");
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            // Until the endpoint stops listening: reconnect whenever the subscription is lost.
            while !tx.is_closed() {
                match client.get_async_pubsub().await {
                    Ok(mut ps) => {
                        if let Err(e) = ps.subscribe(&channel).await {
                            tracing::warn!(error = %e, "redis bus: subscribe failed");
                        } else {
                            backoff = Duration::from_millis(50);
                            let mut messages = ps.on_message();
                            while let Some(m) = futures::StreamExt::next(&mut messages).await {
                                let Ok(payload) = m.get_payload::<String>() else {
                                    continue;
                                };
                                match serde_json::from_str::<BusMessage>(&payload) {
                                    Ok(msg) => {
                                        if tx.send(msg).await.is_err() {
                                            return;
                                        }
                                    }
                                    Err(e) => tracing::warn!(error = %e, "redis bus: bad message"),
                                }
                            }
                            tracing::warn!("redis bus: subscription lost, reconnecting");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "redis bus: cannot connect"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }))
    }

    fn alive(&self, node: u64) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            if node == self.node {
                return Ok(true);
            }
            let now = Instant::now();
            if lock(&self.alive_until)
                .get(&node)
                .is_some_and(|until| *until > now)
            {
                return Ok(true);
            }
            if self.heartbeat_present(node).await? {
                return Ok(true);
            }
            // Gone, or not refreshed yet (Redis just restarted empty, or the node just started): a live
            // node sets it again within a refresh period.
            tokio::time::sleep(self.redis.heartbeat / 3 + Duration::from_millis(100)).await;
            self.heartbeat_present(node).await
        })
    }
}

impl RedisBus {
    /// Whether `node`'s heartbeat key is there; if it is, the node is known alive for the TTL it has left.
    async fn heartbeat_present(&self, node: u64) -> Result<bool, StoreError> {
        let key = self.redis.key("node", &node.to_string());
        let asked = Instant::now();
        // Milliseconds the key has left; -2 when there is none, -1 when it never expires.
        let left: i64 = self.redis.conn.clone().pttl(&key).await.map_err(down)?;
        if left == -2 {
            return Ok(false);
        }
        if let Ok(left) = u64::try_from(left) {
            // The key outlives `asked + left`: Redis read its TTL after `asked`.
            let mut known = lock(&self.alive_until);
            known.retain(|_, until| *until > asked);
            known.insert(node, asked + Duration::from_millis(left));
        }
        Ok(true)
    }
}

/// Task records in Redis (`<prefix>task:<id>`, a hash: `r` the record as JSON, `v` its version), expiring
/// with the task's TTL from its creation. Updates are a Lua compare-and-set on `v`, so of two nodes racing to
/// change a task exactly one wins; the other reads again, as [`TaskStore`] asks. There is no fleet-wide cap
/// (`TaskOptions::max_tasks` caps only the in-memory store): Redis's own memory policy is the bound.
#[derive(Debug, Clone)]
pub struct RedisTaskStore {
    redis: Redis,
}

/// Create: 0 when the id is taken, else 1.
const TASK_CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'v', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Compare-and-set: -1 when there is no such task, 0 when its version is not ARGV[1], else 1. The TTL is
/// left as it is (a task expires counted from its creation).
const TASK_UPDATE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'v', ARGV[3])
return 1
";

fn task_down(e: redis::RedisError) -> TaskStoreError {
    TaskStoreError::backend(format!("redis: {e}"))
}

impl TaskStore for RedisTaskStore {
    fn create(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(async move {
            let key = self.redis.key("task", record.id());
            let json = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
            let mut c = self.redis.conn.clone();
            let created: i64 = redis::Script::new(TASK_CREATE)
                .key(&key)
                .arg(json)
                .arg(record.version())
                .arg(ms(record.ttl()))
                .invoke_async(&mut c)
                .await
                .map_err(task_down)?;
            if created == 1 {
                Ok(())
            } else {
                Err(TaskStoreError::Conflict)
            }
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(async move {
            let key = self.redis.key("task", id);
            let mut c = self.redis.conn.clone();
            let json: Option<String> = c.hget(&key, "r").await.map_err(task_down)?;
            json.map(|j| serde_json::from_str(&j).map_err(TaskStoreError::backend))
                .transpose()
        })
    }

    fn update(
        &self,
        record: TaskRecord,
        expected: u64,
    ) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(async move {
            let key = self.redis.key("task", record.id());
            let json = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
            let mut c = self.redis.conn.clone();
            let outcome: i64 = redis::Script::new(TASK_UPDATE)
                .key(&key)
                .arg(expected)
                .arg(json)
                .arg(record.version())
                .invoke_async(&mut c)
                .await
                .map_err(task_down)?;
            match outcome {
                1 => Ok(()),
                0 => Err(TaskStoreError::Conflict),
                _ => Err(TaskStoreError::NotFound),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        Box::pin(async move {
            let key = self.redis.key("task", id);
            let mut c = self.redis.conn.clone();
            c.del::<_, ()>(&key).await.map_err(task_down)
        })
    }
}
