//! `mcp bridge` and `mcp serve` with real peers on both sides: our conformance server (HTTP and stdio), the
//! official `@modelcontextprotocol/server-everything`, and the TypeScript 1.x/2.x and Python SDK clients of
//! `peers/`. Tests that need the peers skip when they are not installed (run `.ci/install-peers.sh`), unless
//! `MCP_REQUIRE_PEERS=1` (CI), which makes a missing peer a failure.

use crate::common;
use crate::peers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use peers::*;
use serde_json::{json, Value};

#[test]
fn the_bridge_hides_tools_and_refuses_calls_to_them() {
    let s = HttpServer::start();
    let url = s.url();
    let mut h = Host::start(&[
        "bridge",
        &url,
        "--allow-tools",
        "echo_typed_arguments,test_simple_text",
        "--deny-tools",
        "test_simple_text",
    ]);
    h.initialize();
    h.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let names: Vec<Value> = h.answer(2)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("echo_typed_arguments")]);
    let refused = h.call(3, "test_simple_text", json!({}));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let ok = h.call(4, "echo_typed_arguments", json!({"code": "007"}));
    assert_eq!(ok["result"]["structuredContent"]["code"], "007", "{ok}");
    let (code, stderr) = h.finish(true);
    assert_eq!(code, Some(0), "{stderr}");
}

/// The next message from the bridge, whatever it is.
fn next(h: &Host) -> Value {
    h.lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the bridge said nothing")
}

#[test]
fn the_bridge_relays_progress_and_the_servers_questions() {
    let s = HttpServer::start();
    let url = s.url();
    let mut h = Host::start(&["bridge", &url]);
    h.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "test-host", "version": "1"}}}),
    );
    h.answer(1);
    h.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    // Progress arrives with the host's own token, before the answer.
    h.send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "tok-7"}}}),
    );
    let mut progress = 0;
    loop {
        let m = next(&h);
        if m["method"] == "notifications/progress" {
            assert_eq!(m["params"]["progressToken"], "tok-7", "{m}");
            progress += 1;
        } else if m["id"] == 2 {
            assert!(m["result"].is_object(), "{m}");
            break;
        }
    }
    assert!(progress >= 2, "{progress} progress notifications");

    // The server's elicitation request reaches the host; the host's answer reaches the tool.
    h.send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "test_elicitation", "arguments": {"message": "who?"}}}),
    );
    let ask = loop {
        let m = next(&h);
        if m["method"] == "elicitation/create" {
            break m;
        }
        assert_ne!(m["id"], 3, "answered without asking: {m}");
    };
    assert_eq!(ask["params"]["message"], "who?", "{ask}");
    h.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "action": "accept", "content": {"username": "ada", "email": "ada@example.com"}}}));
    let r = h.answer(3);
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("ada@example.com"), "{r}");
    let (code, stderr) = h.finish(true);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_host_that_closes_stdin_after_its_requests_still_gets_every_answer() {
    let s = HttpServer::start();
    let mut child = mcp(&["bridge", &s.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "slow_compute", "arguments": {"label": "late", "seconds": 1}}}),
    ];
    let mut stdin = child.stdin.take().unwrap();
    for m in &script {
        writeln!(stdin, "{m}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let ids: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [json!(1), json!(2), json!(3)], "{out:?}");
}

#[test]
fn a_modern_host_calling_an_unlisted_tool_gets_its_param_headers() {
    let s = HttpServer::start();
    let mut h = Host::start(&["bridge", &s.url()]);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "h", "version": "1"},
    });
    // No tools/list first: the server requires Mcp-Param-Region, which the bridge learns by itself.
    h.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "test_custom_header", "arguments": {"region": "eu-west"}, "_meta": meta}}),
    );
    let r = h.answer(1);
    assert_eq!(r["result"]["content"][0]["text"], "region: eu-west", "{r}");
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let (code, stderr) = h.finish(true);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_bridge_recovers_when_the_server_forgets_the_session() {
    let first = HttpServer::start();
    let url = first.url();
    let mut h = Host::start(&["bridge", &url]);
    h.initialize();
    let r = h.call(2, "echo_typed_arguments", json!({"code": "1"}));
    assert_eq!(r["result"]["structuredContent"]["code"], "1", "{r}");
    // A restart loses every session: the next message meets 404, and the host must not notice.
    let first_port = first.port;
    drop(first);
    let _second = HttpServer::start_on(first_port);
    let r = h.call(3, "echo_typed_arguments", json!({"code": "2"}));
    assert_eq!(r["result"]["structuredContent"]["code"], "2", "{r}");
    let (code, stderr) = h.finish(true);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn the_bridge_ends_with_one_line_when_the_server_cannot_be_reached() {
    // An unreachable URL: the host's initialize is answered with an error, then the bridge exits 3.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let mut h = Host::start(&["bridge", &url]);
    h.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}}));
    let r = h.answer(1);
    assert!(r["error"]["message"].is_string(), "{r}");
    let (code, stderr) = h.finish(false);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("mcp: "), "{stderr}");

    // A child that exits at once: the bridge notices by itself, with the host's stdin still open.
    let h = Host::start(&["bridge", "--", "sh", "-c", "exit 7"]);
    let (code, stderr) = h.finish(false);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the connection ended"), "{stderr}");
}

#[test]
fn python_stdio_client_through_the_bridge_to_our_http_server_both_eras() {
    let Some(p) = peers() else { return };
    let s = HttpServer::start();
    let bridge = format!("{MCP} bridge {}", s.url());
    for era in ["legacy", "modern"] {
        let lines = all_steps_pass(
            &format!("python {era}"),
            p.client("py_client.py", &["--stdio", &bridge, "--era", era]),
        );
        let want = if era == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(
            step(&lines, "connect")["detail"]["protocolVersion"],
            want,
            "{era}"
        );
        // The server's questions reached the Python client and its answers came back.
        assert_eq!(step(&lines, "elicitation")["ok"], true, "{era}");
        assert_eq!(step(&lines, "sampling")["ok"], true, "{era}");
    }
}

/// `mcp serve --port 0 ARGS...`, its URL read from its first stderr line; killed on drop.
struct Serve {
    child: Child,
    url: String,
    port: u16,
    /// The rest of its stderr, line by line.
    log: mpsc::Receiver<String>,
    /// What it printed before its first URL.
    before: Vec<String>,
}

impl Serve {
    fn start(args: &[&str]) -> Self {
        let mut all = vec!["serve", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = mcp(&all)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp serve");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        // Lines before the first URL (servers left out) are kept.
        let mut before = Vec::new();
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("mcp serve printed no URL: {before:?}"));
            match line.split_whitespace().find(|w| w.starts_with("http://")) {
                Some(url) => break url.to_owned(),
                None => before.push(line),
            }
        };
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Self {
            child,
            url,
            port,
            log: rx,
            before,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mcp serve` with `options`, in front of our conformance server on stdio.
fn serve_conformance(options: &[&str]) -> Serve {
    let child = conformance_stdio();
    let mut args = options.to_vec();
    args.extend(child.iter().map(String::as_str));
    Serve::start(&args)
}

fn conformance_stdio() -> Vec<String> {
    vec![
        "--".into(),
        server_bin().display().to_string(),
        "--stdio".into(),
    ]
}

#[test]
fn ts_and_python_http_clients_through_serve_to_our_stdio_server() {
    let Some(p) = peers() else { return };
    for shared in [false, true] {
        let s = serve_conformance(if shared { &["--shared"] } else { &[] });
        let url = s.url.as_str();
        let runs = [
            ("ts-client-v1.mjs", "legacy"),
            ("ts-client-v2.mjs", "legacy"),
            ("ts-client-v2.mjs", "modern"),
            ("ts-client-v2.mjs", "auto"),
            ("py_client.py", "legacy"),
            ("py_client.py", "modern"),
        ];
        for (script, era) in runs {
            let what = format!("{script} {era} shared={shared}");
            let lines = all_steps_pass(&what, p.client(script, &["--url", url, "--era", era]));
            let detail = &step(&lines, "elicitation")["detail"]["text"];
            // Legacy: the child's elicitation/create reached the client; modern: input_required rounds.
            let want = if era == "legacy" { "testuser" } else { "Alice" };
            assert!(
                detail.as_str().is_some_and(|t| t.contains(want)),
                "{what}: {detail}"
            );
        }
    }
}

#[test]
fn ts_and_python_http_clients_through_serve_to_server_everything() {
    let Some(p) = peers() else { return };
    let entry = p.everything();
    let s = Serve::start(&["--", &p.node, &entry, "stdio"]);
    let url = s.url.as_str();
    for (script, era) in [
        ("ts-client-v1.mjs", "legacy"),
        ("ts-client-v2.mjs", "legacy"),
        ("ts-client-v2.mjs", "auto"),
        ("ts-client-v2.mjs", "modern"),
        ("py_client.py", "legacy"),
        ("py_client.py", "auto"),
        ("py_client.py", "modern"),
    ] {
        let what = format!("{script} {era}");
        let lines = all_steps_pass(
            &what,
            p.client(
                script,
                &["--url", url, "--era", era, "--profile", "everything"],
            ),
        );
        // An `auto` client finds 2026-07-28 too: the gateway speaks it for the legacy-only child.
        let want = if era == "legacy" { "legacy" } else { "modern" };
        assert_eq!(step(&lines, "connect")["detail"]["era"], want, "{what}");
        // server-everything's elicitation and sampling requests: real requests for legacy clients,
        // input_required rounds translated by the gateway for modern ones.
        let elicited = &step(&lines, "elicitation")["detail"]["text"];
        assert!(
            elicited.as_str().is_some_and(|t| t.contains("Name: Alice")),
            "{what}: {elicited}"
        );
        let sampled = &step(&lines, "sampling")["detail"]["text"];
        assert!(
            sampled
                .as_str()
                .is_some_and(|t| t.contains("This is a test response from the client")),
            "{what}: {sampled}"
        );
    }
}

#[test]
fn clients_sharing_a_child_never_see_each_others_replies() {
    let s = serve_conformance(&["--shared"]);
    for protocol in ["legacy", "modern"] {
        // Both clients number their requests the same way and both calls run at once at the child.
        let spawn = |label: &str| {
            mcp(&[
                "call",
                &s.url,
                "slow_compute",
                &format!("label={label}"),
                "seconds=1",
                "--protocol",
                protocol,
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        };
        let (a, b) = (spawn("alpha"), spawn("beta"));
        for (child, mine, other) in [(a, "alpha", "beta"), (b, "beta", "alpha")] {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{protocol} {mine}: {out:?}");
            assert!(
                text.contains(mine) && !text.contains(other),
                "{protocol} {mine}: {text}"
            );
        }
    }
}

/// One HTTP/1.1 exchange: (status, head, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn serve_keeps_our_servers_security_defaults() {
    let s = serve_conformance(&["--bearer", "s3cret", "--max-body", "2000"]);
    let port = s.port;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}})
    .to_string();
    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let auth = ("Authorization", "Bearer s3cret");

    assert_eq!(http(port, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(port, "POST", "/mcp", &[json_ct, accept], &init).0, 401);
    let wrong = ("Authorization", "Bearer s3creT");
    assert_eq!(
        http(port, "POST", "/mcp", &[json_ct, accept, wrong], &init).0,
        401
    );
    let evil = ("Host", "evil.example");
    assert_eq!(
        http(port, "POST", "/mcp", &[json_ct, accept, auth, evil], &init).0,
        403
    );
    let origin = ("Origin", "https://evil.example");
    assert_eq!(
        http(
            port,
            "POST",
            "/mcp",
            &[json_ct, accept, auth, origin],
            &init
        )
        .0,
        403
    );
    let text = ("Content-Type", "text/plain");
    assert_eq!(
        http(port, "POST", "/mcp", &[text, accept, auth], &init).0,
        415
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(3000));
    assert_eq!(
        http(port, "POST", "/mcp", &[json_ct, accept, auth], &big).0,
        413
    );
    assert_eq!(
        http(port, "POST", "/mcp", &[json_ct, accept, auth], "{nope").0,
        400
    );
    let unknown = ("Mcp-Session-Id", "no-such-session");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    assert_eq!(
        http(
            port,
            "POST",
            "/mcp",
            &[json_ct, accept, auth, unknown],
            &list
        )
        .0,
        404
    );

    let (status, head, body) = http(port, "POST", "/mcp", &[json_ct, accept, auth], &init);
    assert_eq!(status, 200, "{head}{body}");
    assert!(head.contains("mcp-session-id: "), "{head}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        r["result"]["serverInfo"]["name"], "mcp-rs-conformance-server",
        "{r}"
    );
}

#[test]
fn serve_fails_fast_on_a_bad_child_or_a_url() {
    let r = mcp_run(&["serve", "--port", "0", "--", "sh", "-c", "exit 7"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.starts_with("mcp: "), "{r:?}");
    let r = mcp_run(&["serve", "http://127.0.0.1:9/mcp"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
}

#[test]
fn shared_clients_get_only_their_own_progress() {
    let s = serve_conformance(&["--shared"]);
    let port = s.port;
    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let open = || {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}});
        let (status, head, body) =
            http(port, "POST", "/mcp", &[json_ct, accept], &init.to_string());
        assert_eq!(status, 200, "{head}{body}");
        let sid = head
            .lines()
            .find_map(|l| l.strip_prefix("mcp-session-id: "))
            .expect("a session id")
            .trim()
            .to_owned();
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        let (status, _, _) = http(
            port,
            "POST",
            "/mcp",
            &[json_ct, accept, ("Mcp-Session-Id", &sid)],
            &done,
        );
        assert_eq!(status, 202);
        sid
    };
    let sessions = [open(), open()];
    // The same request id and the same progress token from both clients, at once.
    let calls: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|sid| {
            std::thread::spawn(move || {
                let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                    "name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "same"}}});
                http(
                    port,
                    "POST",
                    "/mcp",
                    &[
                        ("Content-Type", "application/json"),
                        ("Accept", "application/json, text/event-stream"),
                        ("Mcp-Session-Id", &sid),
                    ],
                    &call.to_string(),
                )
            })
        })
        .collect();
    for c in calls {
        let (status, _, body) = c.join().unwrap();
        assert_eq!(status, 200, "{body}");
        let msgs: Vec<Value> = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let progress: Vec<&Value> = msgs
            .iter()
            .filter(|m| m["method"] == "notifications/progress")
            .collect();
        assert_eq!(progress.len(), 3, "{body}");
        assert!(
            progress
                .iter()
                .all(|p| p["params"]["progressToken"] == "same"),
            "{body}"
        );
        let answers: Vec<&Value> = msgs.iter().filter(|m| m.get("result").is_some()).collect();
        assert_eq!(answers.len(), 1, "{body}");
        assert_eq!(answers[0]["id"], 2, "{body}");
    }
}

#[test]
fn serve_closes_sessions_whose_clients_went_away() {
    let s = serve_conformance(&["--session-idle", "1"]);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}});
    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let (status, head, _) = http(
        s.port,
        "POST",
        "/mcp",
        &[json_ct, accept],
        &init.to_string(),
    );
    assert_eq!(status, 200);
    let sid = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .unwrap()
        .trim()
        .to_owned();
    // The client says nothing more.
    closed_when_idle(&s, &sid);
}

/// The gateway reports an idle session closed (other lines of its log are the child's), and `sid` is then
/// unknown: 404.
fn closed_when_idle(s: &Serve, sid: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = s.log.recv_timeout(left).expect("no idle session closed");
        if line.contains("closed an idle session") {
            break;
        }
    }
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let (status, _, body) = http(
        s.port,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Mcp-Session-Id", sid),
        ],
        &list,
    );
    assert_eq!(status, 404, "{body}");
}

#[test]
fn serve_mounts_every_stdio_server_of_a_config_at_its_own_path() {
    let bin = server_bin().display().to_string();
    let stdio = json!({"command": bin, "args": ["--stdio"]});
    let config = write_config(
        "serve-all",
        &json!({"mcpServers": {
            "alpha": stdio, "beta": stdio, "remote": {"url": "http://127.0.0.1:9/mcp"}}}),
    );
    let config_arg = config.display().to_string();
    let s = Serve::start(&["--config", &config_arg, "--all"]);
    assert!(
        s.before.iter().any(|l| l.contains("remote left out")),
        "{:?}",
        s.before
    );
    assert!(s.url.ends_with("/alpha/mcp"), "{}", s.url);
    let beta_line = s.log.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(beta_line.contains("/beta/mcp"), "{beta_line}");

    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string();
    let mut sessions = Vec::new();
    for path in ["/alpha/mcp", "/beta/mcp"] {
        let sid = legacy_session_at(s.port, path);
        let (status, _, body) = http(
            s.port,
            "POST",
            path,
            &[json_ct, accept, ("Mcp-Session-Id", &sid)],
            &list,
        );
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("test_simple_text"), "{body}");
        sessions.push(sid);
    }
    // Each server has its own sessions: alpha's id means nothing to beta.
    let (status, _, _) = http(
        s.port,
        "POST",
        "/beta/mcp",
        &[json_ct, accept, ("Mcp-Session-Id", &sessions[0])],
        &list,
    );
    assert_eq!(status, 404);
    // Nothing is served at the bare path when several servers are.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h", "version": "1"}}});
    let (status, _, _) = http(
        s.port,
        "POST",
        "/mcp",
        &[json_ct, accept],
        &init.to_string(),
    );
    assert_eq!(status, 404);

    // Several names instead of --all: those only. A URL among them, or a name that is no path segment, is a
    // usage error.
    let named = Serve::start(&["--config", &config_arg, "beta", "alpha"]);
    assert!(named.url.ends_with("/beta/mcp") || named.url.ends_with("/alpha/mcp"));
    for (words, why) in [
        (vec!["alpha", "remote"], "is a URL"),
        (vec!["--all", "alpha"], "give no server with it"),
    ] {
        let mut all = vec!["serve", "--port", "0", "--config", &config_arg];
        all.extend(words);
        let out = mcp(&all).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(why), "{err}");
    }
    let odd = write_config("serve-all-odd", &json!({"mcpServers": {"a b": stdio}}));
    let out = mcp(&[
        "serve",
        "--port",
        "0",
        "--config",
        &odd.display().to_string(),
        "--all",
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot be a path segment"), "{err}");
    for c in [config, odd] {
        std::fs::remove_dir_all(c.parent().unwrap()).unwrap();
    }
}

#[test]
fn a_session_whose_get_stream_is_read_stays_and_is_closed_once_that_connection_drops() {
    let s = serve_conformance(&["--session-idle", "1"]);
    let sid = legacy_session(s.port);
    let session = ("Mcp-Session-Id", sid.as_str());
    let (status, _rx, cut) = sse_exchange(s.port, "GET", &[session], "");
    assert_eq!(status, 200);
    // Three idle periods with the GET stream read: the session stays.
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok(line) = s.log.recv_timeout(left) {
            assert!(!line.contains("closed an idle session"), "{line}");
        }
    }
    // The connection drops: what the child sends is still kept for a resume, but the session is idle now.
    cut.shutdown(std::net::Shutdown::Both).unwrap();
    closed_when_idle(&s, &sid);
}

/// A POST whose answer is read as it arrives: its status, and on the channel each JSON-RPC message of its
/// event stream (or its JSON body).
fn post_streaming(port: u16, headers: &[(&str, &str)], body: &str) -> (u16, mpsc::Receiver<Value>) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let (status, events, _) = sse_exchange(port, "POST", &all, body);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (_, m) in events {
            if tx.send(m).is_err() {
                return;
            }
        }
    });
    (status, rx)
}

fn next_message(rx: &mpsc::Receiver<Value>, what: &str) -> Value {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{what}: nothing came ({e})"))
}

/// The notifications (each checked to be `method`) that come before the answer to request `id`, and it.
fn notes_then_answer(rx: &mpsc::Receiver<Value>, id: &str, method: &str) -> (Vec<Value>, Value) {
    let mut notes = Vec::new();
    loop {
        let m = next_message(rx, id);
        if m["id"] == id {
            return (notes, m);
        }
        assert_eq!(m["method"], method, "{m}");
        notes.push(m);
    }
}

/// A legacy session with `mcp serve`, initialized: its id.
fn legacy_session(port: u16) -> String {
    legacy_session_at(port, "/mcp")
}

/// [`legacy_session`] with the endpoint at `path`.
fn legacy_session_at(port: u16, path: &str) -> String {
    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "h", "version": "1"}}});
    let (status, head, body) = http(port, "POST", path, &[json_ct, accept], &init.to_string());
    assert_eq!(status, 200, "{head}{body}");
    let sid = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .expect("a session id")
        .trim()
        .to_owned();
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let (status, _, _) = http(
        port,
        "POST",
        path,
        &[json_ct, accept, ("Mcp-Session-Id", &sid)],
        &done,
    );
    assert_eq!(status, 202);
    sid
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "h", "version": "1"},
    })
}

#[test]
fn a_modern_client_of_a_legacy_only_child_gets_its_calls_progress() {
    let Some(p) = peers() else { return };
    let entry = p.everything();
    let s = Serve::start(&["--", &p.node, &entry, "stdio"]);
    let modern = ("MCP-Protocol-Version", "2026-07-28");
    let call = |id: &str, token: Option<&str>| {
        let mut meta = modern_meta();
        if let Some(t) = token {
            meta["progressToken"] = json!(t);
        }
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "trigger-long-running-operation", "arguments": {"duration": 0.3, "steps": 3},
            "_meta": meta}})
        .to_string()
    };

    // With a progress token: the child's progress comes first, under the client's token, then the answer.
    let (status, rx) = post_streaming(s.port, &[modern], &call("c1", Some("my-token")));
    assert_eq!(status, 200);
    let (progress, answer) = notes_then_answer(&rx, "c1", "notifications/progress");
    assert_eq!(progress.len(), 3, "{progress:?}");
    for (i, n) in progress.iter().enumerate() {
        assert_eq!(n["params"]["progressToken"], "my-token", "{n}");
        assert_eq!(n["params"]["progress"], i as u64 + 1, "{n}");
    }
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Long running operation completed")),
        "{answer}"
    );

    // Without one, nothing was asked for: the answer alone.
    let (status, rx) = post_streaming(s.port, &[modern], &call("c2", None));
    assert_eq!(status, 200);
    let m = next_message(&rx, "c2");
    assert_eq!(m["id"], "c2", "{m}");
    assert_eq!(m["result"]["resultType"], "complete", "{m}");

    // Our own client, pinned to 2026-07-28, gets the notifications through its progress channel.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen: Vec<f64> = rt.block_on(async {
        let transport = mcp_client::transport::HttpTransport::builder(s.url.clone())
            .build()
            .unwrap();
        let client = mcp_client::Client::builder()
            .version_mode(mcp_client::VersionMode::Pinned(
                mcp_protocol::ProtocolVersion::V2026_07_28,
            ))
            .connect(transport)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let r = client
            .call_tool_with(
                "trigger-long-running-operation",
                json!({"duration": 0.3, "steps": 3}),
                mcp_client::CallOptions::default().progress(tx),
            )
            .await
            .unwrap();
        assert!(!r.is_error.unwrap_or(false), "{r:?}");
        client.close().await;
        let mut seen = Vec::new();
        while let Ok(p) = rx.try_recv() {
            seen.push(p.progress);
        }
        seen
    });
    assert_eq!(seen, [1.0, 2.0, 3.0]);
}

/// A stdio server that speaks only 2025-06-18, with one tool that logs at four levels before it answers.
const LEGACY_LOGGER: &str = r#"
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    def reply(**kw):
        print(json.dumps({"jsonrpc": "2.0", "id": m["id"], **kw}), flush=True)
    method = m.get("method")
    if method == "initialize":
        reply(result={"protocolVersion": "2025-06-18", "capabilities": {"tools": {}, "logging": {}},
                      "serverInfo": {"name": "legacy-logger", "version": "1"}})
    elif method == "tools/list":
        reply(result={"tools": [{"name": "chatty", "inputSchema": {"type": "object"}}]})
    elif method == "tools/call":
        for level in ["debug", "info", "warning", "error"]:
            print(json.dumps({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": level, "data": level + " from chatty"}}), flush=True)
        reply(result={"content": [{"type": "text", "text": "done"}]})
    elif method == "ping":
        reply(result={})
    else:
        reply(error={"code": -32601, "message": "Method not found"})
"#;

#[test]
fn a_modern_client_of_a_legacy_only_child_gets_the_logs_its_call_asked_for() {
    // The peers' Python when installed, else the system's; without either there is no child to run.
    let python = match peers() {
        Some(p) => p.python,
        None if std::process::Command::new("python3")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()) =>
        {
            "python3".to_owned()
        }
        None => {
            eprintln!("skipped: no python3 to run the legacy-only child");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("mcp-legacy-logger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("legacy_logger.py");
    std::fs::write(&script, LEGACY_LOGGER).unwrap();
    let s = Serve::start(&["--", &python, script.to_str().unwrap()]);
    let modern = ("MCP-Protocol-Version", "2026-07-28");
    let call = |id: &str, level: Option<&str>| {
        let mut meta = modern_meta();
        if let Some(l) = level {
            meta["io.modelcontextprotocol/logLevel"] = json!(l);
        }
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "chatty", "arguments": {}, "_meta": meta}})
        .to_string()
    };

    // Asked for warning and up: those two come on the call's stream, in order, then the answer.
    let (status, rx) = post_streaming(s.port, &[modern], &call("w", Some("warning")));
    assert_eq!(status, 200);
    let (logs, answer) = notes_then_answer(&rx, "w", "notifications/message");
    let levels: Vec<&str> = logs
        .iter()
        .filter_map(|m| m["params"]["level"].as_str())
        .collect();
    assert_eq!(levels, ["warning", "error"]);
    assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");

    // Asked for none: the answer alone (a modern server sends no logs a request did not ask for).
    let (status, rx) = post_streaming(s.port, &[modern], &call("n", None));
    assert_eq!(status, 200);
    let m = next_message(&rx, "n");
    assert_eq!(m["id"], "n", "{m}");
    assert_eq!(m["result"]["content"][0]["text"], "done", "{m}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shared_childs_question_goes_to_the_only_call_running_and_is_refused_when_two_are() {
    let s = serve_conformance(&["--shared"]);
    let (a, b) = (legacy_session(s.port), legacy_session(s.port));
    let ask = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "test_elicitation", "arguments": {"message": "Who are you?"}}})
        .to_string()
    };

    // A's call is the only one running: the child's question is A's.
    let (status, from_a) = post_streaming(s.port, &[("Mcp-Session-Id", &a)], &ask(2));
    assert_eq!(status, 200);
    let question = next_message(&from_a, "A's question");
    assert_eq!(question["method"], "elicitation/create", "{question}");

    // While A thinks, B's call asks too: two calls running, and the child's request names neither.
    // It is refused at the child rather than shown to whichever client; B's call ends with that.
    let (status, from_b) = post_streaming(s.port, &[("Mcp-Session-Id", &b)], &ask(2));
    assert_eq!(status, 200);
    let b_end = next_message(&from_b, "B's answer");
    assert_eq!(b_end["id"], 2, "B saw a question that may be A's: {b_end}");
    assert!(b_end.get("method").is_none(), "{b_end}");
    let refused = b_end["error"].is_object() || b_end["result"]["isError"] == true;
    assert!(refused, "{b_end}");
    assert!(
        b_end.to_string().contains("several clients"),
        "the child's error says why: {b_end}"
    );

    // A answers its question; its call completes with A's answer.
    let answer = json!({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "accept",
        "content": {"username": "alice-a", "email": "a@example.com"}}});
    let (status, _, body) = http(
        s.port,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Mcp-Session-Id", &a),
        ],
        &answer.to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let a_end = next_message(&from_a, "A's answer");
    assert_eq!(a_end["id"], 2, "{a_end}");
    assert!(a_end.to_string().contains("alice-a"), "{a_end}");
}

/// An exchange whose answer is read as it arrives: its status, each JSON-RPC message of its event stream
/// (or its JSON body) with the `id:` of its event, and the socket (shut it down to cut the stream as a
/// dropped connection would).
fn sse_exchange(
    port: u16,
    method: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, mpsc::Receiver<(Option<String>, Value)>, TcpStream) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let cut = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Header lines, chunk sizes and event names are not JSON; `data:` lines and a JSON body are.
        let mut id = None;
        for line in r.lines().map_while(Result::ok) {
            if let Some(i) = line.strip_prefix("id: ") {
                id = Some(i.trim().to_owned());
                continue;
            }
            let json = line.strip_prefix("data: ").unwrap_or(&line);
            if let Ok(v) = serde_json::from_str::<Value>(json) {
                if v.is_object() && tx.send((id.take(), v)).is_err() {
                    return;
                }
            }
        }
    });
    (status, rx, cut)
}

#[test]
fn a_cut_stream_resumes_with_last_event_id_and_the_call_goes_on() {
    let s = serve_conformance(&[]);
    let sid = legacy_session(s.port);
    let json_ct = ("Content-Type", "application/json");
    let session = ("Mcp-Session-Id", sid.as_str());
    // Three progress notifications 50 ms apart, then the answer.
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p"}}});
    let (status, rx, cut) = sse_exchange(s.port, "POST", &[json_ct, session], &call.to_string());
    assert_eq!(status, 200);
    let (first_id, first) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a first event");
    assert_eq!(first["method"], "notifications/progress", "{first}");
    let first_id = first_id.expect("events of a session's stream carry ids");
    // The connection drops after the first event.
    cut.shutdown(std::net::Shutdown::Both).unwrap();
    drop(rx);

    let (status, rx, _) = sse_exchange(s.port, "GET", &[session, ("Last-Event-ID", &first_id)], "");
    assert_eq!(status, 200);
    let rest: Vec<(Option<String>, Value)> = rx.iter().collect();
    let progress: Vec<f64> = rest
        .iter()
        .filter(|(_, m)| m["method"] == "notifications/progress")
        .map(|(_, m)| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(
        progress,
        [50.0, 100.0],
        "what followed the first event, once each: {rest:?}"
    );
    let (_, answer) = rest.last().expect("the answer");
    assert_eq!(answer["id"], 7, "{rest:?}");
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "Progress test completed"
    );
    assert!(rest.iter().all(|(id, _)| id.is_some()), "{rest:?}");

    // An id the gateway never gave is refused, not taken for a new stream.
    let (status, _, _) = sse_exchange(s.port, "GET", &[session, ("Last-Event-ID", "99-0")], "");
    assert_eq!(status, 400);
}

#[test]
fn a_cut_get_stream_resumes_with_what_the_child_sent_meanwhile() {
    // Two sessions on one child: A's calls change the tool list, and the change reaches B's GET stream (B
    // has no request running).
    let s = serve_conformance(&["--shared"]);
    let a = legacy_session(s.port);
    let b = legacy_session(s.port);
    let json_ct = ("Content-Type", "application/json");
    let accept = ("Accept", "application/json, text/event-stream");
    let change = |n: u64| {
        let call = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {
            "name": "test_trigger_tool_change", "arguments": {}}});
        let (status, _, body) = http(
            s.port,
            "POST",
            "/mcp",
            &[json_ct, accept, ("Mcp-Session-Id", &a)],
            &call.to_string(),
        );
        assert_eq!(status, 200, "{body}");
    };
    let b_session = ("Mcp-Session-Id", b.as_str());
    let (status, rx, cut) = sse_exchange(s.port, "GET", &[b_session], "");
    assert_eq!(status, 200);
    change(2);
    let (first_id, first) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the first change on B's GET stream");
    assert_eq!(first["method"], "notifications/tools/list_changed");
    let first_id = first_id.expect("the events of a GET stream carry ids");

    // B's connection drops; the child changes its tools again while nobody reads B's stream.
    cut.shutdown(std::net::Shutdown::Both).unwrap();
    drop(rx);
    change(3);
    let (status, rx, _cut) = sse_exchange(
        s.port,
        "GET",
        &[b_session, ("Last-Event-ID", &first_id)],
        "",
    );
    assert_eq!(status, 200);
    let (missed_id, missed) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the change sent while the stream was cut");
    assert_eq!(missed["method"], "notifications/tools/list_changed");
    let missed_id = missed_id.expect("an id");
    assert_ne!(missed_id, first_id, "the first change is not sent again");
    // And the resumed stream goes on live.
    change(4);
    let (live_id, live) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a change after the resume");
    assert_eq!(live["method"], "notifications/tools/list_changed");
    assert!(live_id.is_some_and(|id| id != missed_id));
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "each change comes once"
    );
}
