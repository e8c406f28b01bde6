//! A fleet of real processes: `redis-server`, 3 `conformance-server` nodes sharing it (and one `requestState`
//! key), and `fleet-proxy` in front, which sends every HTTP request to the next node in turn. Each test starts
//! its own fleet on free loopback ports and kills it when done ([`Fleet`]'s `Drop`).
//!
//! Some tests talk to the nodes directly, to be sure where each request lands (an answer POSTed to node 1 for
//! a call running on node 0); the others use our client through the proxy, as a deployment would.
//!
//! Without `redis-server` the tests print a skip message and pass, unless `CI` is set (or
//! `MCP_REQUIRE_PEERS=1`, as `.ci/run` sets): then they fail.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use mcp::client::transport::HttpTransport;
use mcp::client::{Client, ClientEvent, VersionMode};
use mcp::protocol::types::{
    CreateMessageParams, CreateMessageResult, ElicitRequestParams, ElicitResult, Implementation,
    OneOrMany, Role, SamplingContent, SubscriptionFilter,
};
use mcp::protocol::{ErrorObject, ProtocolVersion};
use mcp_redis::testing::RedisServer;
use mcp_test_support::ServerProcess;
use peers::PeerRuns;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::peers;

const V: &str = "2025-11-25";
/// How long any single step may take before the test fails (rather than hangs).
const STEP: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------- the harness

/// How to start a fleet.
#[derive(Default)]
struct FleetOptions {
    /// `MCP_SESSION_IDLE_SECS` for every node.
    idle_secs: Option<u64>,
    /// Give each node its own `MCP_STATE_KEY` instead of one shared key.
    distinct_keys: bool,
}

/// Redis, 3 nodes and the proxy, as child processes; all killed on drop.
struct Fleet {
    redis: Option<RedisServer>,
    redis_port: u16,
    nodes: Vec<Option<ServerProcess>>,
    node_ports: Vec<u16>,
    proxy: Child,
    proxy_port: u16,
    /// What the proxy printed (`--log`): one `fleet-proxy: METHOD PATH -> upstream I` per request.
    proxy_log: Arc<Mutex<Vec<String>>>,
    /// How many lines `proxy_log` holds, to wait for the next one.
    proxy_lines: tokio::sync::watch::Receiver<usize>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // SIGKILL our own child (by handle, so by PID); tokio reaps it. The nodes and Redis go with their
        // handles.
        let _ = self.proxy.start_kill();
    }
}

/// 32 bytes of key material as hex, different for each `seed` and each process.
fn key_hex(seed: u8) -> String {
    let pid = std::process::id();
    (0..32u32)
        .map(|i| {
            format!(
                "{:02x}",
                (pid.wrapping_mul(31)
                    .wrapping_add(i * 7 + u32::from(seed) * 101)) as u8
            )
        })
        .collect()
}

/// A `redis-server` of the fleet's own; `None` when the binary is missing (and skipping is allowed).
async fn start_redis() -> Option<RedisServer> {
    match RedisServer::start().await {
        Ok(r) => Some(r),
        Err(e) if e.is_not_installed() => {
            let required = std::env::var_os("CI").is_some()
                || std::env::var("MCP_REQUIRE_PEERS").as_deref() == Ok("1");
            assert!(!required, "redis-server is required (CI is set): {e}");
            eprintln!(
                "\n!!! SKIPPED: {e}; `apt-get install redis-server` to run the fleet tests !!!\n"
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

impl Fleet {
    async fn start() -> Option<Self> {
        Self::start_with(FleetOptions::default()).await
    }

    async fn start_with(opts: FleetOptions) -> Option<Self> {
        let redis = start_redis().await?;
        let redis_port = redis.port();
        let shared = key_hex(0);
        let mut nodes = Vec::new();
        let mut node_ports = Vec::new();
        for i in 0..3u8 {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_conformance-server"));
            cmd.args(["--port", "0"])
                .env("MCP_REDIS_URL", redis.url())
                .env(
                    "MCP_STATE_KEY",
                    if opts.distinct_keys {
                        key_hex(i + 1)
                    } else {
                        shared.clone()
                    },
                )
                .env_remove("RUST_LOG");
            if let Some(s) = opts.idle_secs {
                cmd.env("MCP_SESSION_IDLE_SECS", s.to_string());
            }
            // It binds port 0 and names the port it got: no other test can take it first.
            let node = tokio::task::spawn_blocking(move || ServerProcess::start(&mut cmd))
                .await
                .expect("conformance-server starts");
            node_ports.push(node.port);
            nodes.push(Some(node));
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet-proxy"));
        cmd.args(["--port", "0", "--log"]);
        for p in &node_ports {
            cmd.args(["--upstream", &format!("http://127.0.0.1:{p}")]);
        }
        let mut proxy = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn fleet-proxy");
        let mut lines = BufReader::new(proxy.stdout.take().expect("piped")).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("fleet-proxy starts")
            .expect("fleet-proxy output")
            .expect("fleet-proxy prints its address");
        let proxy_port: u16 = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from fleet-proxy: {first}"));
        let proxy_log = Arc::new(Mutex::new(Vec::new()));
        let log = proxy_log.clone();
        let (lines_tx, proxy_lines) = tokio::sync::watch::channel(0);
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(l);
                    log.len()
                };
                lines_tx.send_replace(n);
            }
        });
        Some(Self {
            redis: Some(redis),
            redis_port,
            nodes,
            node_ports,
            proxy,
            proxy_port,
            proxy_log,
            proxy_lines,
        })
    }

    /// The fleet's endpoint: through the proxy.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.proxy_port)
    }

    /// Node `i`'s own endpoint, bypassing the proxy.
    fn node(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}/mcp", self.node_ports[i])
    }

    /// The upstreams the proxy sent requests to, from log line `from` on: (method, upstream index).
    fn routed_since(&self, from: usize) -> Vec<(String, usize)> {
        self.proxy_log.lock().unwrap()[from..]
            .iter()
            .filter_map(|l| {
                let rest = l.strip_prefix("fleet-proxy: ")?;
                let method = rest.split(' ').next()?.to_owned();
                let i = rest.rsplit(' ').next()?.parse().ok()?;
                Some((method, i))
            })
            .collect()
    }

    fn log_len(&self) -> usize {
        self.proxy_log.lock().unwrap().len()
    }

    /// The upstream of the first POST the proxy routes from log line `from` on, once it has.
    async fn next_post(&self, from: usize) -> usize {
        let mut lines = self.proxy_lines.clone();
        let found = tokio::time::timeout(
            STEP,
            lines.wait_for(|_| self.routed_since(from).iter().any(|(m, _)| m == "POST")),
        )
        .await;
        assert!(matches!(found, Ok(Ok(_))), "no POST routed in {STEP:?}");
        self.routed_since(from)
            .into_iter()
            .find(|(m, _)| m == "POST")
            .map(|(_, i)| i)
            .expect("a POST")
    }

    /// `kill -9` node `i`.
    async fn kill_node(&mut self, i: usize) {
        // Dropping it is SIGKILL and reaping.
        drop(self.nodes[i].take().expect("node is running"));
    }

    async fn kill_redis(&mut self) {
        self.redis.take().expect("redis is running").stop().await;
    }

    async fn restart_redis(&mut self) {
        assert!(self.redis.is_none(), "redis is still running");
        self.redis = Some(
            RedisServer::start_on(self.redis_port)
                .await
                .expect("redis-server restarts"),
        );
    }
}

// ------------------------------------------------------------------------------------------- raw HTTP

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}

fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    sid: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut b = http
        .request(method, url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V);
    if let Some(s) = sid {
        b = b.header("mcp-session-id", s);
    }
    b
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    sid: Option<&str>,
    body: Value,
) -> reqwest::Response {
    tokio::time::timeout(
        STEP,
        request(http, reqwest::Method::POST, url, sid)
            .json(&body)
            .send(),
    )
    .await
    .expect("POST answered in time")
    .expect("POST sent")
}

async fn get_stream(
    http: &reqwest::Client,
    url: &str,
    sid: &str,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut b = request(http, reqwest::Method::GET, url, Some(sid));
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    tokio::time::timeout(STEP, b.send())
        .await
        .expect("GET answered in time")
        .expect("GET sent")
}

/// `initialize` + `notifications/initialized` on `url`; the session id. The client declares sampling and
/// elicitation, so the fixtures may ask for them.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let r = post(
        http,
        url,
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": V,
            "capabilities": {"sampling": {}, "elicitation": {}},
            "clientInfo": {"name": "fleet-test", "version": "1.0.0"}}}),
    )
    .await;
    assert_eq!(r.status(), 200, "initialize on {url}");
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let r = post(
        http,
        url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    sid
}

/// One SSE event with data.
#[derive(Debug, Clone)]
struct Event {
    id: Option<String>,
    data: Value,
}

/// The events of an SSE response, parsed as they arrive.
struct Sse {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buf: String,
}

impl Sse {
    fn new(resp: reqwest::Response) -> Self {
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            ct.starts_with("text/event-stream"),
            "not an SSE response: {} {ct}",
            resp.status()
        );
        Self {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event with data (priming events and comments are skipped); `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("bad event data {data}: {e}"));
                return Some(Event { id, data });
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n")),
                _ => return None,
            }
        }
    }

    /// The next event, which must come within [`STEP`].
    async fn expect(&mut self, what: &str) -> Event {
        tokio::time::timeout(STEP, self.next())
            .await
            .unwrap_or_else(|_| panic!("no event in {STEP:?}: waiting for {what}"))
            .unwrap_or_else(|| panic!("the stream ended: waiting for {what}"))
    }
}

/// The JSON-RPC response to a POSTed request, whether it came as JSON or as the last event of an SSE stream.
async fn response(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), 200);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ct.starts_with("application/json") {
        return resp.json().await.expect("a JSON body");
    }
    let mut sse = Sse::new(resp);
    loop {
        let ev = sse.expect("a response").await;
        if ev.data.get("result").is_some() || ev.data.get("error").is_some() {
            return ev.data;
        }
    }
}

fn call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ------------------------------------------------------------------------------------------- our client

fn sampler(
) -> impl Fn(CreateMessageParams) -> futures::future::Ready<Result<CreateMessageResult, ErrorObject>>
       + Send
       + Sync
       + 'static {
    |_p: CreateMessageParams| {
        futures::future::ready(Ok(CreateMessageResult {
            role: Role::Assistant,
            content: OneOrMany::One(SamplingContent::text("Paris, from the fleet client")),
            model: "fleet-model".into(),
            stop_reason: None,
            meta: None,
        }))
    }
}

fn answers() -> Map<String, Value> {
    let mut c = Map::new();
    for (k, v) in [
        ("name", "Ada"),
        ("city", "London"),
        ("username", "ada"),
        ("email", "ada@example.com"),
    ] {
        c.insert(k.into(), json!(v));
    }
    c
}

async fn client(url: &str, mode: VersionMode) -> Client {
    tokio::time::timeout(
        STEP,
        Client::builder()
            .client_info(Implementation::new("fleet-test", "1.0.0"))
            .version_mode(mode)
            .elicitation_handler(|_p: ElicitRequestParams| async move {
                Ok::<_, ErrorObject>(ElicitResult::accept(answers()))
            })
            .sampling_handler(sampler())
            .connect(HttpTransport::new(url).expect("a URL")),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

async fn greet(c: &Client, name: &str) -> Result<String, mcp::client::Error> {
    tokio::time::timeout(STEP, c.call_tool("greet", json!({"name": name})))
        .await
        .expect("tools/call answered in time (no hang)")
        .map(|r| r.text_content())
}

// ------------------------------------------------------------------------------------------- scenarios

/// A session opened on node 0 serves requests on nodes 1 and 2, and our client through the proxy keeps one
/// session across calls that land on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_on_one_node_is_served_by_every_node() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;
    for (i, node) in [1usize, 2, 0, 2].into_iter().enumerate() {
        let r = response(
            post(
                &http,
                &fleet.node(node),
                Some(&sid),
                call(i as u64 + 1, "greet", json!({"name": format!("n{node}")})),
            )
            .await,
        )
        .await;
        assert_eq!(
            text_of(&r),
            format!("Hello, n{node}!"),
            "on node {node}: {r}"
        );
    }

    let from = fleet.log_len();
    let c = client(&fleet.url(), VersionMode::Legacy).await;
    let mut events = c.events();
    let session = c.session_id().expect("a legacy session");
    for i in 0..6 {
        assert_eq!(
            greet(&c, &format!("call {i}")).await.unwrap(),
            format!("Hello, call {i}!")
        );
    }
    assert_eq!(
        c.session_id().as_deref(),
        Some(session.as_str()),
        "one session throughout"
    );
    while let Ok(ev) = events.try_recv() {
        assert!(
            !matches!(
                ev,
                ClientEvent::SessionRecovered { .. } | ClientEvent::SessionLost { .. }
            ),
            "{ev:?}"
        );
    }
    let posts: std::collections::BTreeSet<usize> = fleet
        .routed_since(from)
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .map(|(_, i)| i)
        .collect();
    assert_eq!(posts.len(), 3, "the calls went to every node");
}

/// A call on node 0 asks the client (sampling, then elicitation); the answers are POSTed to nodes 1 and 2,
/// and the handler on node 0 gets them. Then the same through the proxy with our client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_and_elicitation_answers_reach_the_node_that_asked() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;

    let cases = [
        (
            "test_sampling",
            json!({"prompt": "Capital of France?"}),
            "sampling/createMessage",
            1usize,
            json!({"role": "assistant", "content": {"type": "text", "text": "Paris, via node 1"}, "model": "m"}),
            "LLM response: Paris, via node 1",
        ),
        (
            "test_elicitation",
            json!({"message": "Who are you?"}),
            "elicitation/create",
            2usize,
            json!({"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}),
            "ada@example.com",
        ),
    ];
    for (n, (tool, args, method, answer_node, answer, expected)) in cases.into_iter().enumerate() {
        let mut stream = Sse::new(
            post(
                &http,
                &fleet.node(0),
                Some(&sid),
                call(10 + n as u64, tool, args),
            )
            .await,
        );
        let ask = loop {
            let ev = stream.expect(method).await;
            if ev.data["method"] == method {
                break ev.data;
            }
        };
        let r = post(
            &http,
            &fleet.node(answer_node),
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": ask["id"], "result": answer}),
        )
        .await;
        assert_eq!(
            r.status(),
            202,
            "the answer is accepted on node {answer_node}"
        );
        let result = loop {
            let ev = stream.expect("the tool's result").await;
            if ev.data.get("result").is_some() || ev.data.get("error").is_some() {
                break ev.data;
            }
        };
        assert!(text_of(&result).contains(expected), "{tool}: {result}");
    }

    let c = client(&fleet.url(), VersionMode::Legacy).await;
    for _ in 0..2 {
        let r = tokio::time::timeout(
            STEP,
            c.call_tool("test_sampling", json!({"prompt": "Capital?"})),
        )
        .await
        .expect("no hang")
        .unwrap();
        assert_eq!(
            r.text_content(),
            "LLM response: Paris, from the fleet client"
        );
        let r = tokio::time::timeout(
            STEP,
            c.call_tool("test_elicitation", json!({"message": "Who?"})),
        )
        .await
        .expect("no hang")
        .unwrap();
        assert!(
            r.text_content().contains("ada@example.com"),
            "{}",
            r.text_content()
        );
    }
}

/// A list change raised on node 2 reaches the GET stream the session holds on node 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_raised_on_one_node_reaches_the_get_stream_on_another() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;
    let get = get_stream(&http, &fleet.node(1), &sid, None).await;
    assert_eq!(get.status(), 200);
    let mut stream = Sse::new(get);
    let r = response(
        post(
            &http,
            &fleet.node(2),
            Some(&sid),
            call(1, "test_trigger_tool_change", json!({})),
        )
        .await,
    )
    .await;
    assert!(text_of(&r).contains("added"), "{r}");
    let ev = stream.expect("notifications/tools/list_changed").await;
    assert_eq!(
        ev.data["method"], "notifications/tools/list_changed",
        "{:?}",
        ev
    );
}

/// DELETE on node 2 ends the session's GET stream on node 1 and its request stream on node 0; the session is
/// then gone everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_one_node_ends_the_streams_on_the_others() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;
    let get = get_stream(&http, &fleet.node(1), &sid, None).await;
    assert_eq!(get.status(), 200);
    let mut get = Sse::new(get);
    // A call waiting on an elicitation the client never answers: its stream stays open until something ends it.
    let mut pending = Sse::new(
        post(
            &http,
            &fleet.node(0),
            Some(&sid),
            call(1, "test_elicitation", json!({"message": "?"})),
        )
        .await,
    );
    assert_eq!(
        pending.expect("elicitation/create").await.data["method"],
        "elicitation/create"
    );

    let r = tokio::time::timeout(
        STEP,
        request(&http, reqwest::Method::DELETE, &fleet.node(2), Some(&sid)).send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(r.status().is_success(), "DELETE: {}", r.status());

    let ended = tokio::time::timeout(STEP, get.next())
        .await
        .expect("the GET stream on node 1 ends");
    assert!(ended.is_none(), "no event after DELETE: {ended:?}");
    let until_end =
        tokio::time::timeout(STEP, async { while pending.next().await.is_some() {} }).await;
    assert!(until_end.is_ok(), "the request stream on node 0 ends");
    for node in 0..3 {
        let r = post(
            &http,
            &fleet.node(node),
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}),
        )
        .await;
        assert_eq!(r.status(), 404, "the deleted session on node {node}");
    }
}

/// An event id of session A, sent as `Last-Event-ID` by session B, replays nothing of A's: refused. The same
/// id with session A resumes (so the refusal is about the session, not the id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_event_id_from_another_session_is_refused() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let a = open_session(&http, &fleet.node(0)).await;
    let b = open_session(&http, &fleet.node(1)).await;
    let mut stream = Sse::new(
        post(
            &http,
            &fleet.node(0),
            Some(&a),
            call(1, "test_tool_with_logging", json!({})),
        )
        .await,
    );
    let first = stream.expect("a log message").await;
    let id = first.id.clone().expect("events carry ids");
    while stream.next().await.is_some() {}

    let r = get_stream(&http, &fleet.node(2), &b, Some(&id)).await;
    let status = r.status();
    let body = tokio::time::timeout(STEP, r.text())
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        status.is_client_error(),
        "session B resuming A's stream: {status} {body}"
    );
    assert!(
        !body.contains("Tool processing data"),
        "nothing of A's stream leaks: {body}"
    );

    let mut own = Sse::new(get_stream(&http, &fleet.node(2), &a, Some(&id)).await);
    let ev = own.expect("A's next event").await;
    assert_eq!(ev.data["params"]["data"], "Tool processing data", "{ev:?}");
}

/// Redis dies: requests that need it fail fast with 503 naming the cause (no hang, no crash). It comes back
/// (empty) on the same port: the nodes reconnect by themselves and our client carries on with a new session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_fails_fast_then_service_resumes() {
    let Some(mut fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let c = client(&fleet.url(), VersionMode::Legacy).await;
    let mut events = c.events();
    let before = c.session_id().unwrap();
    assert_eq!(greet(&c, "before").await.unwrap(), "Hello, before!");

    fleet.kill_redis().await;
    for node in 0..3 {
        let t = Instant::now();
        let r = post(
            &http,
            &fleet.node(node),
            Some(&before),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, 503, "node {node} without Redis: {body}");
        assert!(body.contains("redis"), "the error names the cause: {body}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "fast: {:?}",
            t.elapsed()
        );
    }
    let t = Instant::now();
    assert!(
        greet(&c, "during").await.is_err(),
        "a call without Redis fails"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "and fails fast: {:?}",
        t.elapsed()
    );

    fleet.restart_redis().await;
    // Every node serves again by itself (each reconnects on its next command).
    for node in 0..3 {
        let deadline = Instant::now() + STEP;
        loop {
            let r = post(&http, &fleet.node(node), None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}})).await;
            if r.status() == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} did not come back: {}",
                r.status()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The restarted Redis is empty: the session is gone (404) and the client opens a new one by itself.
    assert_eq!(greet(&c, "after").await.unwrap(), "Hello, after!");
    let after = c.session_id().unwrap();
    assert_ne!(after, before);
    let recovered = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, ClientEvent::SessionRecovered { .. }));
    assert!(recovered, "the client reports the new session");
}

/// With a 1 s idle timeout, a session left alone is 404 on every node, and our client (through the proxy)
/// opens a new one by itself and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_on_every_node_and_the_client_recovers() {
    let Some(fleet) = Fleet::start_with(FleetOptions {
        idle_secs: Some(1),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;
    let c = client(&fleet.url(), VersionMode::Legacy).await;
    let mut events = c.events();
    let before = c.session_id().unwrap();
    assert_eq!(greet(&c, "one").await.unwrap(), "Hello, one!");

    // Expiry is the subject: real time must pass (Redis expires the records on its own clock).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for node in 0..3 {
        let r = post(
            &http,
            &fleet.node(node),
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
        assert_eq!(r.status(), 404, "expired session on node {node}");
    }
    assert_eq!(greet(&c, "two").await.unwrap(), "Hello, two!");
    assert_ne!(c.session_id().unwrap(), before, "a new session");
    let recovered = std::iter::from_fn(|| events.try_recv().ok())
        .any(|e| matches!(e, ClientEvent::SessionRecovered { .. }));
    assert!(recovered, "the client reports the new session");
}

/// 2026-07-28: a tool that needs two rounds of input completes through the proxy, each retry on another node,
/// because the nodes share the `requestState` key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_input_required_rounds_complete_across_nodes_with_a_shared_key() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let c = client(
        &fleet.url(),
        VersionMode::Pinned(ProtocolVersion::V2026_07_28),
    )
    .await;
    let from = fleet.log_len();
    let r = tokio::time::timeout(
        STEP,
        c.call_tool("test_input_required_result_multi_round", json!({})),
    )
    .await
    .expect("no hang")
    .expect("the rounds complete");
    let a = serde_json::to_string(&answers()).unwrap();
    assert_eq!(
        r.text_content(),
        format!("Completed both rounds: {a} / {a}")
    );
    let nodes: Vec<usize> = fleet
        .routed_since(from)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert!(nodes.len() >= 3, "a call and two retries: {nodes:?}");
    assert!(
        nodes.windows(2).all(|w| w[0] != w[1]),
        "each round on another node: {nodes:?}"
    );
}

/// The same with a different key on each node: a retry sealed by one node is refused by the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_input_required_rounds_fail_across_nodes_with_different_keys() {
    let Some(fleet) = Fleet::start_with(FleetOptions {
        distinct_keys: true,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let c = client(
        &fleet.url(),
        VersionMode::Pinned(ProtocolVersion::V2026_07_28),
    )
    .await;
    let err = tokio::time::timeout(
        STEP,
        c.call_tool("test_input_required_result_multi_round", json!({})),
    )
    .await
    .expect("no hang")
    .expect_err("another node's requestState is refused");
    assert!(err.to_string().contains("requestState"), "{err}");
}

/// The client cuts a response stream on node 0 after its first event and resumes with `Last-Event-ID` on
/// nodes 1 and 2 (which replay what is stored, then end), until the result: every event arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_and_resumed_on_other_nodes_delivers_each_event_once_in_order() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let http = http();
    let sid = open_session(&http, &fleet.node(0)).await;
    let mut stream = Sse::new(
        post(
            &http,
            &fleet.node(0),
            Some(&sid),
            call(7, "test_tool_with_logging", json!({})),
        )
        .await,
    );
    let first = stream.expect("the first log message").await;
    drop(stream); // the cut

    let mut seen = vec![first];
    let deadline = Instant::now() + STEP;
    'resume: for attempt in 0.. {
        let last = seen.last().unwrap().id.clone().expect("events carry ids");
        let node = 1 + attempt % 2;
        let r = get_stream(&http, &fleet.node(node), &sid, Some(&last)).await;
        assert_eq!(r.status(), 200, "resume on node {node}");
        let mut resumed = Sse::new(r);
        while let Some(ev) = tokio::time::timeout(STEP, resumed.next())
            .await
            .expect("the resumed stream moves")
        {
            let done = ev.data.get("result").is_some();
            seen.push(ev);
            if done {
                break 'resume;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no result after {attempt} resumes: {seen:?}"
        );
        // The node replayed what was stored and ended: resume again after a pause, as the SSE `retry` asks.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts: Vec<Value> = seen
        .iter()
        .map(|e| e.data["params"]["data"].clone())
        .collect();
    assert_eq!(
        texts,
        [
            json!("Tool execution started"),
            json!("Tool processing data"),
            json!("Tool execution completed"),
            Value::Null
        ],
        "each event once, in order: {seen:?}"
    );
    assert_eq!(text_of(&seen[3].data), "Logging test completed");
    let ids: Vec<String> = seen.iter().map(|e| e.id.clone().unwrap()).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "distinct event ids: {ids:?}");
}

/// The proxy itself: a request it routes to a dead node gets 502; the others still reach their nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_502_for_a_dead_node() {
    let Some(mut fleet) = Fleet::start().await else {
        return;
    };
    fleet.kill_node(1).await;
    let http = http();
    let from = fleet.log_len();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = post(
            &http,
            &fleet.url(),
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    let routed: Vec<usize> = fleet
        .routed_since(from)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let at = routed
        .iter()
        .position(|&i| i == 1)
        .expect("one request went to node 1");
    for (i, status) in statuses.iter().enumerate() {
        if i == at {
            assert_eq!(*status, 502, "the dead node: {statuses:?}");
        } else {
            assert_ne!(*status, 502, "a live node: {statuses:?}");
        }
    }
}

// ------------------------------------------------------------------ scenarios that need node liveness and
// cross-node `subscriptions/listen` (the fleet-liveness work): bounded, so they fail rather than hang.

/// A node is killed (`kill -9`) while it runs a call: the client gets an error (the other nodes learn from
/// the dead node's missing heartbeat that its requests are orphaned), not a hang.
///
/// The call is `test_elicitation`, and the client's elicitation handler never answers: so the handler on the
/// node is surely running (it has sent its question on the response stream, with event ids) when the node is
/// killed. The client then resumes that stream on the nodes left, which must tell it the request is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_node_mid_call_gives_the_client_an_error_not_a_hang() {
    let Some(mut fleet) = Fleet::start().await else {
        return;
    };
    let (asked_tx, mut asked) = tokio::sync::mpsc::unbounded_channel::<()>();
    let c = tokio::time::timeout(
        STEP,
        Client::builder()
            .client_info(Implementation::new("fleet-test", "1.0.0"))
            .version_mode(VersionMode::Legacy)
            .elicitation_handler(move |_p: ElicitRequestParams| {
                let _ = asked_tx.send(());
                // The user never answers: the call stays in flight on its node.
                std::future::pending::<Result<ElicitResult, ErrorObject>>()
            })
            .connect(HttpTransport::new(fleet.url()).expect("a URL")),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let from = fleet.log_len();
    let running = tokio::spawn(async move {
        let r = c
            .call_tool("test_elicitation", json!({"message": "Still there?"}))
            .await;
        (r, c)
    });
    let node = fleet.next_post(from).await;
    tokio::time::timeout(STEP, asked.recv())
        .await
        .expect("the node asks the client")
        .expect("the handler is alive");
    fleet.kill_node(node).await;
    let outcome = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap_or_else(|_| panic!("the client still waits 30 s after node {node} died: a hang"))
        .expect("the call task");
    let err = match outcome.0 {
        Err(e) => e,
        Ok(r) => panic!("a call whose node died cannot have a result: {r:?}"),
    };
    // The fleet itself must say the request is lost (a JSON-RPC error on the resumed stream), not leave the
    // client to give up resuming on its own (`StreamBroken`, after its few attempts).
    assert_eq!(
        err.kind(),
        mcp::client::ErrorKind::Rpc,
        "the nodes left report the orphaned request: {err}"
    );
    // The nodes left still serve.
    let http = http();
    let alive = (0..3).find(|&i| i != node).unwrap();
    let sid = open_session(&http, &fleet.node(alive)).await;
    let r = response(
        post(
            &http,
            &fleet.node(alive),
            Some(&sid),
            call(1, "greet", json!({"name": "after"})),
        )
        .await,
    )
    .await;
    assert_eq!(text_of(&r), "Hello, after!");
}

/// 2026-07-28: a `subscriptions/listen` stream held by one node receives a list change raised on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_listen_receives_events_published_on_another_node() {
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let c = client(
        &fleet.url(),
        VersionMode::Pinned(ProtocolVersion::V2026_07_28),
    )
    .await;
    let from = fleet.log_len();
    let mut sub = tokio::time::timeout(
        STEP,
        c.listen(SubscriptionFilter {
            tools_list_changed: Some(true),
            ..Default::default()
        }),
    )
    .await
    .expect("listen acknowledged in time")
    .expect("listen");
    let listening = fleet.next_post(from).await;
    let from = fleet.log_len();
    let r = tokio::time::timeout(STEP, c.call_tool("test_trigger_tool_change", json!({})))
        .await
        .expect("no hang")
        .unwrap();
    assert!(r.text_content().contains("added"), "{}", r.text_content());
    let triggered = fleet.next_post(from).await;
    assert_ne!(listening, triggered, "the change is raised on another node");
    let n = tokio::time::timeout(STEP, sub.next())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no notification in {STEP:?} on node {listening} for a change on node {triggered}"
            )
        })
        .expect("the subscription is open");
    assert_eq!(n.method, "notifications/tools/list_changed");
}

/// The official TypeScript (2.x and 1.x) and Python clients run our interop checks through the proxy: every
/// request of theirs goes to the next node, so each check crosses nodes (the GET stream, the answers to the
/// server's questions, the session itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_and_python_clients_pass_their_interop_checks_through_the_fleet() {
    let Some(p) = peers::Peers::load() else {
        return;
    };
    let Some(fleet) = Fleet::start().await else {
        return;
    };
    let url = fleet.url();
    let cases = [
        ("ts-client-v2.mjs", "legacy"),
        ("ts-client-v2.mjs", "modern"),
        ("ts-client-v1.mjs", "legacy"),
        ("py_client.py", "legacy"),
        ("py_client.py", "modern"),
    ];
    let failures = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for (client, era) in cases {
            let args = ["--url".to_string(), url.clone(), "--era".into(), era.into()];
            let run = p.run_client(client, &args);
            println!("{client} {era} through the fleet: {}", run.summary());
            if !run.ok() || run.era.as_deref() != Some(era) || run.passed == 0 {
                failures.push(format!("{client} ({era}):\n{}", run.output));
            }
        }
        failures
    })
    .await
    .expect("the peer runs");
    assert!(
        failures.is_empty(),
        "interop failures through the fleet:\n{}",
        failures.join("\n\n")
    );
}
