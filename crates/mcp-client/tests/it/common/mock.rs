//! A scripted legacy (2025-11-25) Streamable HTTP server with sessions that tests can expire at will.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{full, json, sse_events, sse_message, sse_stream, with_header, Body, Seen, TestHttp};

/// What the GET endpoint does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMode {
    /// 405: no event stream.
    NotAllowed,
    /// 404 (as POST-only servers answer).
    NotFound,
    /// Hold an SSE stream open.
    Open,
}

pub struct LegacyMock {
    pub sessions: Mutex<HashSet<String>>,
    next_session: AtomicU64,
    pub inits: AtomicUsize,
    /// Answer `initialize` with 503 (the server is down).
    pub refuse_init: std::sync::atomic::AtomicBool,
    pub not_found: AtomicUsize,
    pub runs: Mutex<HashMap<String, usize>>,
    pub subscribes: Mutex<Vec<(String, String)>>,
    pub set_levels: Mutex<Vec<(String, String)>>,
    pub get_mode: Mutex<GetMode>,
    pub delete_status: Mutex<u16>,
    /// Delay before answering 404, so concurrent requests all see the dead session.
    pub not_found_delay: Mutex<Duration>,
    /// Delay before running `count`.
    pub count_delay: Mutex<Duration>,
    /// Replies parked for resumption: Last-Event-ID → (event id, reply).
    pub parked: Mutex<HashMap<String, (String, Value)>>,
    pub cut_at: Mutex<Option<Instant>>,
    pub resumed: Mutex<Vec<(String, Instant)>>,
    /// Server→client requests awaiting the client's POSTed answer.
    pub waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    server_req_seq: AtomicU64,
}

impl Default for LegacyMock {
    fn default() -> Self {
        Self {
            sessions: Mutex::default(),
            next_session: AtomicU64::new(1),
            inits: AtomicUsize::new(0),
            refuse_init: Default::default(),
            not_found: AtomicUsize::new(0),
            runs: Mutex::default(),
            subscribes: Mutex::default(),
            set_levels: Mutex::default(),
            get_mode: Mutex::new(GetMode::NotAllowed),
            delete_status: Mutex::new(200),
            not_found_delay: Mutex::new(Duration::ZERO),
            count_delay: Mutex::new(Duration::ZERO),
            parked: Mutex::default(),
            cut_at: Mutex::new(None),
            resumed: Mutex::default(),
            waiting: Mutex::default(),
            server_req_seq: AtomicU64::new(1),
        }
    }
}

fn ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

impl LegacyMock {
    pub async fn start() -> (Arc<Self>, TestHttp) {
        let mock = Arc::new(Self::default());
        let m = mock.clone();
        let http = TestHttp::start(move |seen| {
            let m = m.clone();
            async move { m.handle(seen).await }
        })
        .await;
        (mock, http)
    }

    /// The server restarts: every session is forgotten.
    pub fn restart(&self) {
        self.sessions.lock().unwrap().clear();
    }

    pub fn runs(&self, tool: &str) -> usize {
        self.runs.lock().unwrap().get(tool).copied().unwrap_or(0)
    }

    fn bump(&self, tool: &str) -> usize {
        let mut r = self.runs.lock().unwrap();
        let n = r.entry(tool.to_owned()).or_default();
        *n += 1;
        *n
    }

    async fn handle(self: Arc<Self>, s: Seen) -> http::Response<Body> {
        match s.method.as_str() {
            "POST" => self.post(s).await,
            "GET" => self.get(s).await,
            "DELETE" => {
                if let Some(sid) = s.header("mcp-session-id") {
                    self.sessions.lock().unwrap().remove(sid);
                }
                full(*self.delete_status.lock().unwrap(), None, "")
            }
            _ => full(405, None, ""),
        }
    }

    /// The session check every non-initialize message goes through.
    async fn check_session(&self, s: &Seen) -> Result<String, http::Response<Body>> {
        let Some(sid) = s.header("mcp-session-id") else {
            return Err(json(
                400,
                &json!({"jsonrpc": "2.0", "error": {"code": -32000, "message": "Bad Request: Mcp-Session-Id header is required"}}),
            ));
        };
        if !self.sessions.lock().unwrap().contains(sid) {
            let delay = *self.not_found_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            self.not_found.fetch_add(1, Ordering::SeqCst);
            return Err(json(
                404,
                &json!({"jsonrpc": "2.0", "error": {"code": -32001, "message": "Session not found"}}),
            ));
        }
        Ok(sid.to_owned())
    }

    async fn post(self: Arc<Self>, s: Seen) -> http::Response<Body> {
        let body = s.body.clone();
        let id = body.get("id").cloned();
        let method = body
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if method.as_deref() == Some("initialize") {
            assert!(
                s.header("mcp-session-id").is_none(),
                "initialize must not carry a session id"
            );
            if self.refuse_init.load(Ordering::SeqCst) {
                return full(503, None, "down");
            }
            let n = self.next_session.fetch_add(1, Ordering::SeqCst);
            self.inits.fetch_add(1, Ordering::SeqCst);
            let sid = format!("sess-{n}");
            self.sessions.lock().unwrap().insert(sid.clone());
            let r = ok(
                &id.unwrap(),
                json!({
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {}, "resources": {"subscribe": true}, "logging": {}},
                    "serverInfo": {"name": "legacy-mock", "version": n.to_string()}
                }),
            );
            return with_header(json(200, &r), "mcp-session-id", &sid);
        }
        let sid = match self.check_session(&s).await {
            Ok(sid) => sid,
            Err(resp) => return resp,
        };
        if s.header("mcp-protocol-version") != Some("2025-11-25") {
            return full(400, None, "bad or missing MCP-Protocol-Version");
        }
        let Some(method) = method else {
            // A response to one of our server→client requests.
            if let Some(rid) = id.as_ref().and_then(Value::as_str) {
                if let Some(tx) = self.waiting.lock().unwrap().remove(rid) {
                    let _ = tx.send(body.clone());
                }
            }
            return full(202, None, "");
        };
        let Some(id) = id else {
            return full(202, None, ""); // a notification
        };
        match method.as_str() {
            "ping" => json(200, &ok(&id, json!({}))),
            "resources/subscribe" => {
                let uri = body["params"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.subscribes.lock().unwrap().push((sid, uri));
                json(200, &ok(&id, json!({})))
            }
            "logging/setLevel" => {
                let level = body["params"]["level"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.set_levels.lock().unwrap().push((sid, level));
                json(200, &ok(&id, json!({})))
            }
            "tools/list" => json(
                200,
                &ok(
                    &id,
                    json!({"tools": [
                        {"name": "count", "inputSchema": {"type": "object"}},
                        {"name": "boom", "inputSchema": {"type": "object"}},
                        {"name": "cut", "inputSchema": {"type": "object"}},
                        {"name": "torn", "inputSchema": {"type": "object"}},
                        {"name": "reset", "inputSchema": {"type": "object"}},
                        {"name": "ask", "inputSchema": {"type": "object"}}
                    ]}),
                ),
            ),
            "tools/call" => self.call(sid, id, &body).await,
            other => json(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no {other}")}}),
            ),
        }
    }

    async fn call(self: Arc<Self>, _sid: String, id: Value, body: &Value) -> http::Response<Body> {
        let name = body["params"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match name.as_str() {
            "count" => {
                let delay = *self.count_delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                let n = self.bump("count");
                json(
                    200,
                    &ok(
                        &id,
                        json!({"content": [{"type": "text", "text": format!("run {n}")}]}),
                    ),
                )
            }
            "boom" => {
                self.bump("boom");
                full(500, Some("text/plain"), "internal failure")
            }
            "cut" | "torn" => {
                // SEP-1699: a priming event with an id and `retry`, then the connection closes; the reply is
                // parked for the client's GET with Last-Event-ID. `torn` closes it inside the reply's event,
                // after its id line: that event was not received, so resuming must ask from ev-1 again.
                let n = self.bump(&name);
                let reply = ok(
                    &id,
                    json!({"content": [{"type": "text", "text": format!("{name} run {n}")}]}),
                );
                let torn = name == "torn";
                let retry = if torn { 50 } else { 500 };
                let partial = format!("id: ev-2\ndata: {}", &reply.to_string()[..20]);
                self.parked
                    .lock()
                    .unwrap()
                    .insert("ev-1".into(), ("ev-2".into(), reply));
                let (tx, resp) = sse_stream();
                let m = self.clone();
                tokio::spawn(async move {
                    let _ = tx.send(Ok(format!("id: ev-1\nretry: {retry}\ndata: \n\n")));
                    if torn {
                        let _ = tx.send(Ok(partial));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    *m.cut_at.lock().unwrap() = Some(Instant::now());
                    drop(tx);
                });
                resp
            }
            "reset" => {
                // The connection dies mid-response with no event id: the request may have run.
                self.bump("reset");
                let (tx, resp) = sse_stream();
                tokio::spawn(async move {
                    let _ = tx.send(Ok(": working\n\n".into()));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = tx.send(Err(std::io::Error::other("connection reset")));
                });
                resp
            }
            "ask" => {
                // Ask the client through a real elicitation request on the reply stream, then answer.
                self.bump("ask");
                let rid = format!("srv-{}", self.server_req_seq.fetch_add(1, Ordering::SeqCst));
                let (answer_tx, answer_rx) = oneshot::channel();
                self.waiting.lock().unwrap().insert(rid.clone(), answer_tx);
                let (tx, resp) = sse_stream();
                tokio::spawn(async move {
                    let ask = json!({"jsonrpc": "2.0", "id": rid, "method": "elicitation/create", "params": {
                        "message": "Who are you?",
                        "requestedSchema": {"type": "object", "properties": {
                            "name": {"type": "string", "default": "John Doe"},
                            "age": {"type": "integer", "default": 30}
                        }}
                    }});
                    let _ = tx.send(Ok(sse_message(None, &ask)));
                    let Ok(answer) = answer_rx.await else { return };
                    let content = answer["result"]["content"].clone();
                    let reply = ok(
                        &id,
                        json!({"content": [{"type": "text", "text": content.to_string()}]}),
                    );
                    let _ = tx.send(Ok(sse_message(None, &reply)));
                });
                resp
            }
            _ => json(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "unknown tool"}}),
            ),
        }
    }

    async fn get(self: Arc<Self>, s: Seen) -> http::Response<Body> {
        if let Err(resp) = self.check_session(&s).await {
            return resp;
        }
        if let Some(last) = s.header("last-event-id") {
            self.resumed
                .lock()
                .unwrap()
                .push((last.to_owned(), Instant::now()));
            if let Some((ev, reply)) = self.parked.lock().unwrap().remove(last) {
                return sse_events(&[sse_message(Some(&ev), &reply)]);
            }
            return full(404, None, "");
        }
        match *self.get_mode.lock().unwrap() {
            GetMode::NotAllowed => full(405, None, ""),
            GetMode::NotFound => full(404, None, ""),
            GetMode::Open => {
                let (tx, resp) = sse_stream();
                tokio::spawn(async move {
                    let _ = tx.send(Ok(": open\n\n".into()));
                    // Held open until the client goes away.
                    tx.closed().await;
                });
                resp
            }
        }
    }
}
