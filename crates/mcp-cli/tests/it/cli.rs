//! The real `mcp` binary against `conformance-server`, over stdio and Streamable HTTP, on both eras.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const ERAS: [(&str, &str); 2] = [("legacy", "legacy"), ("modern", "modern")];

#[test]
fn lists_and_describes_over_stdio_and_http_on_both_eras() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for (flag, era) in ERAS {
            let what = format!("{} {flag}", server.name);
            let info = server.run("info", &["--json", "--protocol", flag]);
            assert_eq!(info.code, Some(0), "{what}: {info:?}");
            let info = info.json();
            assert_eq!(info["era"], era, "{what}");
            assert_eq!(
                info["serverInfo"]["name"], "mcp-rs-conformance-server",
                "{what}"
            );
            let transport = if server.name == "stdio" {
                "stdio"
            } else {
                "streamable-http"
            };
            assert_eq!(info["transport"], transport, "{what}");
            assert!(info["capabilities"]["tools"].is_object(), "{what}: {info}");
            let expected_version = if era == "modern" {
                "2026-07-28"
            } else {
                "2025-11-25"
            };
            assert_eq!(info["protocolVersion"], expected_version, "{what}");

            let tools = server.run("tools", &["--json", "--protocol", flag]);
            assert_eq!(tools.code, Some(0), "{what}: {tools:?}");
            let tools = tools.json();
            let names: Vec<&str> = tools["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&"echo_typed_arguments") && names.contains(&"test_simple_text"),
                "{what}: {names:?}"
            );
            let typed = tools["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == "echo_typed_arguments")
                .unwrap();
            assert_eq!(
                typed["inputSchema"]["properties"]["tags"]["type"], "array",
                "{what}"
            );

            let table = server.run("tools", &["--protocol", flag]);
            assert_eq!(table.code, Some(0), "{what}: {table:?}");
            let row = table
                .stdout
                .lines()
                .find(|l| l.contains("echo_typed_arguments"))
                .unwrap_or_default();
            assert!(
                row.contains("tags: string[]") && row.contains("code: string"),
                "{what}: {}",
                table.stdout
            );

            let resources = server
                .run("resources", &["--json", "--protocol", flag])
                .json();
            assert!(
                resources["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["uri"] == "test://static-text"),
                "{what}"
            );
            let templates = server
                .run("templates", &["--json", "--protocol", flag])
                .json();
            assert_eq!(
                templates["resourceTemplates"][0]["uriTemplate"], "test://template/{id}/data",
                "{what}"
            );
            let prompts = server
                .run("prompts", &["--json", "--protocol", flag])
                .json();
            assert!(
                prompts["prompts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "test_prompt_with_arguments"),
                "{what}"
            );
        }
    }
}

#[test]
fn call_types_arguments_from_the_schema_on_every_transport_and_era() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for (flag, _) in ERAS {
            let what = format!("{} {flag}", server.name);
            let r = server.run(
                "call",
                &[
                    "echo_typed_arguments",
                    "code=007",
                    "tags=a,b",
                    "sizes=[1,2]",
                    "count=3",
                    "ratio=0.5",
                    "flag=false",
                    "--json",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            let v = r.json();
            assert_eq!(
                v["structuredContent"],
                json!({"code": "007", "tags": ["a", "b"], "sizes": [1, 2], "count": 3, "ratio": 0.5, "flag": false}),
                "{what}"
            );
            assert!(
                v["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("Received: "),
                "{what}"
            );
            // `--raw` sends text as text; `k:=JSON` stays JSON.
            let r = server.run(
                "call",
                &[
                    "echo_typed_arguments",
                    "code=123",
                    "count:=4",
                    "--raw",
                    "--json",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(
                r.json()["structuredContent"],
                json!({"code": "123", "count": 4}),
                "{what}"
            );
            // For people: the content, nothing else.
            let r = server.run("call", &["test_simple_text", "--protocol", flag]);
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(
                r.stdout.trim(),
                "This is a simple text response for testing.",
                "{what}"
            );
        }
    }
}

#[test]
fn arguments_from_a_file_and_stdin() {
    let dir = std::env::temp_dir().join(format!("mcp-cli-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("args.json");
    std::fs::write(&file, r#"{"tags": ["x"], "code": "1"}"#).unwrap();
    let at = format!("@{}", file.display());
    let s = stdio();
    let r = s.run("call", &["echo_typed_arguments", &at, "code=2", "--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.json()["structuredContent"],
        json!({"tags": ["x"], "code": "2"})
    );

    let args = s.args("call", &["echo_typed_arguments", "@-", "--json"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = mcp(&refs);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"sizes": [5]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["structuredContent"], json!({"sizes": [5]}));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_failure_has_its_exit_code_and_one_line() {
    let s = stdio();
    // 2: usage errors, before or after connecting.
    for words in [
        vec!["echo_typed_arguments", "count=abc"],
        vec!["no_such_tool"],
        vec!["echo_typed_arguments", "sizes=1,x"],
        vec!["echo_typed_arguments", "--bogus-flag"],
    ] {
        let r = s.run("call", &words);
        assert_eq!(r.code, Some(2), "{words:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{words:?}: {r:?}");
        assert!(r.stderr.starts_with("mcp: "), "{r:?}");
    }
    let r = s.run("call", &["no_such_tool", "--json"]);
    assert_eq!(r.code, Some(2));
    let e = r.error_json();
    assert_eq!(
        (e["error"]["kind"].as_str(), e["error"]["code"].as_i64()),
        (Some("usage"), Some(2))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_tool"),
        "{e}"
    );

    // 3: nothing listening, a child that exits at once, a program that does not exist.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    for args in [
        vec!["tools", url.as_str(), "--json"],
        vec!["tools", "--json", "--", "false"],
        vec!["tools", "--json", "--", "/nonexistent/mcp-server"],
    ] {
        let r = mcp_run(&args);
        assert_eq!(r.code, Some(3), "{args:?}: {r:?}");
        let e = r.error_json();
        assert_eq!(e["error"]["kind"], "connection", "{args:?}");
        assert_eq!(r.stdout, "", "{args:?}");
    }

    // A child that answers garbage: lines that are not JSON-RPC are never an answer (3, after --timeout);
    // an answer of the wrong shape is a protocol error (4). Neither hangs.
    let r = mcp_run(&[
        "tools",
        "--timeout",
        "2",
        "--",
        "sh",
        "-c",
        "while read l; do echo garbage; done",
    ]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("no answer within 2s"), "{r:?}");
    let wrong = r#"while read l; do echo '{"jsonrpc":"2.0","id":1,"result":5}'; done"#;
    let r = mcp_run(&["tools", "--timeout", "5", "--", "sh", "-c", wrong]);
    assert_eq!(r.code, Some(4), "{r:?}");

    // 4: the server refuses (an unknown resource, an unknown prompt).
    let r = s.run("read", &["test://no-such-resource", "--json"]);
    assert_eq!(r.code, Some(4), "{r:?}");
    assert_eq!(r.error_json()["error"]["kind"], "protocol");
    let r = s.run("prompt", &["no_such_prompt"]);
    assert_eq!(r.code, Some(4), "{r:?}");

    // 5: the tool ran and said isError; --json prints the whole result.
    let r = s.run("call", &["test_error_handling", "--json"]);
    assert_eq!(r.code, Some(5), "{r:?}");
    let v = r.json();
    assert_eq!(v["isError"], true);
    assert!(
        v["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("intentionally"),
        "{v}"
    );
    let r = s.run("call", &["test_error_handling"]);
    assert_eq!(r.code, Some(5), "{r:?}");
    assert!(r.stderr.contains("intentionally returns an error"), "{r:?}");
}

#[test]
fn elicitation_is_answered_from_flags_or_declined() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for (flag, _) in ERAS {
            let what = format!("{} {flag}", server.name);
            let r = server.run(
                "call",
                &[
                    "test_elicitation",
                    "message=who?",
                    "--answer",
                    "username=0042",
                    "--answer",
                    "email=a@b.io",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            let text = r
                .stdout
                .trim()
                .strip_prefix("User response: ")
                .unwrap_or_else(|| panic!("{what}: {r:?}"));
            let v: Value = serde_json::from_str(text).unwrap();
            // The string field stays a string though it is all digits.
            assert_eq!(
                v,
                json!({"action": "accept", "content": {"username": "0042", "email": "a@b.io"}}),
                "{what}"
            );

            let r = server.run(
                "call",
                &[
                    "test_elicitation",
                    "message=who?",
                    "--no-input",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert!(r.stdout.contains(r#""action":"decline""#), "{what}: {r:?}");
            assert!(r.stderr.contains("declined"), "{what}: {r:?}");
        }
    }
}

#[test]
fn progress_leaves_piped_output_clean() {
    let r = stdio().run("call", &["test_tool_with_progress"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout.trim(), "Progress test completed");
    assert_eq!(r.stderr, "", "no progress bar without a terminal");
}

#[test]
fn read_prompt_complete_and_ping() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for (flag, era) in ERAS {
            let what = format!("{} {flag}", server.name);
            let r = server.run("read", &["test://static-text", "--protocol", flag]);
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(
                r.stdout.trim(),
                "This is the content of the static text resource.",
                "{what}"
            );
            let r = server.run(
                "read",
                &["test://template/12/data", "--json", "--protocol", flag],
            );
            let body: Value =
                serde_json::from_str(r.json()["contents"][0]["text"].as_str().unwrap()).unwrap();
            assert_eq!(body["id"], "12", "{what}");

            let r = server.run(
                "prompt",
                &[
                    "test_prompt_with_arguments",
                    "arg1=x",
                    "arg2=007",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(
                r.stdout.trim(),
                "[user] Prompt with arguments: arg1='x', arg2='007'",
                "{what}"
            );

            let r = server.run(
                "complete",
                &[
                    "--prompt",
                    "test_prompt_with_arguments",
                    "arg1",
                    "test",
                    "--json",
                    "--protocol",
                    flag,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(
                r.json()["completion"]["values"],
                json!(["test1", "test2", "test3"]),
                "{what}"
            );

            let r = server.run("ping", &["--json", "--protocol", flag]);
            assert_eq!(r.code, Some(0), "{what} ({era}): {r:?}");
            assert_eq!(r.json()["ok"], true);
        }
    }
}

#[test]
fn a_config_entry_of_type_sse_speaks_the_2024_11_05_transport() {
    // conformance-server answers Streamable HTTP on every path, so the automatic fallback (covered by
    // mcp-client's tests) never triggers here: the config's "type": "sse" picks the old transport directly.
    let h = HttpServer::start();
    let path = write_config(
        "sse",
        &json!({"mcpServers": {"old": {"type": "sse", "url": format!("http://127.0.0.1:{}/sse", h.port)}}}),
    );
    let cfg = path.display().to_string();
    let r = mcp_run(&["info", "old", "--json", "--config", &cfg]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v = r.json();
    assert_eq!(
        (v["transport"].as_str(), v["era"].as_str()),
        (Some("http+sse"), Some("legacy")),
        "{v}"
    );
    let r = mcp_run(&[
        "call",
        "old",
        "echo_typed_arguments",
        "code=01",
        "--json",
        "--config",
        &cfg,
    ]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.json()["structuredContent"], json!({"code": "01"}));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn a_config_name_runs_its_command_with_variables_expanded() {
    let bin = server_bin();
    let h = HttpServer::start();
    let path = write_config(
        "names",
        &json!({"mcpServers": {
            "local": {"command": "${CLI_TEST_SERVER}", "args": ["${CLI_TEST_MODE:---stdio}"]},
            "remote": {"url": "http://127.0.0.1:${CLI_TEST_PORT}/mcp", "headers": {"X-Team": "${CLI_TEST_TEAM}"}},
        }}),
    );
    let cfg = path.display().to_string();
    let mut c = mcp(&[
        "call",
        "local",
        "echo_typed_arguments",
        "code=9",
        "--json",
        "--config",
        &cfg,
    ]);
    c.env("CLI_TEST_SERVER", &bin);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.json()["structuredContent"], json!({"code": "9"}));

    let mut c = mcp(&["tools", "remote", "--json", "--config", &cfg]);
    c.env("CLI_TEST_PORT", h.port.to_string())
        .env("CLI_TEST_TEAM", "blue");
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.json()["tools"].as_array().unwrap().len() > 10);

    // A variable that is not set is a usage error naming it; so is a name the file does not have.
    let r = mcp_run(&["tools", "remote", "--config", &cfg]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("CLI_TEST_PORT"), "{r:?}");
    let r = mcp_run(&["tools", "elsewhere", "--config", &cfg]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("local, remote"), "{r:?}");

    // ./mcp.json is found without --config.
    let mut c = mcp(&["info", "local", "--json"]);
    c.current_dir(path.parent().unwrap())
        .env("CLI_TEST_SERVER", &bin);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.json()["transport"], "stdio");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// A server that records each request's head and answers garbage.
fn garbage_server() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = tx.send(head);
            let body = "this is not JSON-RPC";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

#[test]
fn config_headers_reach_the_server_and_garbage_is_a_protocol_error() {
    let (port, heads) = garbage_server();
    let path = write_config(
        "headers",
        &json!({"mcpServers": {"g": {"url": format!("http://127.0.0.1:{port}/mcp"),
            "headers": {"Authorization": "Bearer ${CLI_TEST_TOKEN}", "X-From-Config": "1"}}}}),
    );
    let cfg = path.display().to_string();
    let mut c = mcp(&[
        "tools",
        "g",
        "--config",
        &cfg,
        "-H",
        "X-Extra: two",
        "--json",
        "--timeout",
        "10",
    ]);
    c.env("CLI_TEST_TOKEN", "t0k3n");
    let r = run(c);
    assert_eq!(r.code, Some(4), "{r:?}");
    let e = r.error_json();
    assert_eq!(e["error"]["kind"], "protocol");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{e}"
    );
    let head = heads
        .recv_timeout(Duration::from_secs(5))
        .expect("no request reached the server")
        .to_ascii_lowercase();
    assert!(head.contains("authorization: bearer t0k3n"), "{head}");
    assert!(
        head.contains("x-from-config: 1") && head.contains("x-extra: two"),
        "{head}"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn help_documents_the_exit_codes() {
    let r = mcp_run(&["--help"]);
    assert_eq!(r.code, Some(0));
    for line in [
        "2  usage error",
        "3  connection failure",
        "4  protocol or server error",
        "5  the tool ran",
    ] {
        assert!(r.stdout.contains(line), "{line:?} missing from --help");
    }
}
