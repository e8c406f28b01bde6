//! `mcp record` between our client and `conformance-server --stdio`, then `mcp replay` of the recording to
//! the same client: the same results, on both eras; requests the recording lacks get a clear error.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{mcp_run, server_bin, wait_timeout, MCP};
use serde_json::{json, Value};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mcp-cli-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(file: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `mcp WORDS... -- <server words>`.
fn with_server(words: &[&str], server: &[String]) -> Vec<String> {
    let mut v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
    v.push("--".into());
    v.extend(server.iter().cloned());
    v
}

fn run(args: &[String]) -> common::Run {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    mcp_run(&refs)
}

#[test]
fn a_recorded_session_replays_to_the_same_results_on_both_eras() {
    let dir = scratch("eras");
    let server = server_bin().display().to_string();
    for era in ["legacy", "modern"] {
        let file = dir.join(format!("{era}.jsonl"));
        let f = file.display().to_string();
        let recorder = vec![
            MCP.to_owned(),
            "record".into(),
            "-o".into(),
            f.clone(),
            "--".into(),
            server.clone(),
            "--stdio".into(),
        ];
        let replayer = vec![MCP.to_owned(), "replay".into(), f.clone()];
        let call = [
            "call",
            "echo_typed_arguments",
            "code=007",
            "tags=a,b",
            "--json",
            "--protocol",
            era,
        ];

        let recorded = run(&with_server(&call, &recorder));
        assert_eq!(recorded.code, Some(0), "{era}: {recorded:?}");
        let direct = run(&with_server(&call, &[server.clone(), "--stdio".into()]));
        assert_eq!(
            recorded.json(),
            direct.json(),
            "{era}: the recorder is transparent"
        );

        // The recording: every message, in order, with its direction and time.
        let rec = lines(&file);
        let first = &rec[0];
        assert_eq!(first["dir"], "c2s", "{first}");
        let handshake = if era == "legacy" {
            "initialize"
        } else {
            "server/discover"
        };
        assert_eq!(first["msg"]["method"], handshake, "{era}");
        let t: Vec<u64> = rec.iter().map(|e| e["t_ms"].as_u64().unwrap()).collect();
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
        let requests = rec
            .iter()
            .filter(|e| {
                e["dir"] == "c2s" && e["msg"]["method"].is_string() && e["msg"]["id"].is_number()
            })
            .count();
        let responses = rec
            .iter()
            .filter(|e| {
                e["dir"] == "s2c" && e["msg"]["method"].is_null() && e["msg"]["id"].is_number()
            })
            .count();
        assert!(requests >= 3 && requests == responses, "{era}: {rec:?}");
        let sent = rec
            .iter()
            .find(|e| e["msg"]["method"] == "tools/call")
            .unwrap();
        assert_eq!(
            sent["msg"]["params"]["arguments"],
            json!({"code": "007", "tags": ["a", "b"]})
        );

        // Replayed to the same client: the same result, and the tool list the call looked at.
        let replayed = run(&with_server(&call, &replayer));
        assert_eq!(replayed.code, Some(0), "{era}: {replayed:?}");
        assert_eq!(replayed.json(), recorded.json(), "{era}");
        assert_eq!(
            replayed.json()["content"][0]["text"],
            "Received: {\"code\":\"007\",\"tags\":[\"a\",\"b\"]}"
        );
        let tools = ["tools", "--json", "--protocol", era];
        let live = run(&with_server(&tools, &[server.clone(), "--stdio".into()]));
        let mock = run(&with_server(&tools, &replayer));
        assert_eq!(mock.code, Some(0), "{era}: {mock:?}");
        assert_eq!(mock.json(), live.json(), "{era}");

        // What the recording does not have is a JSON-RPC error naming it, not a hang or a made-up answer.
        let other = run(&with_server(
            &[
                "call",
                "echo_typed_arguments",
                "code=008",
                "--json",
                "--protocol",
                era,
            ],
            &replayer,
        ));
        assert_eq!(other.code, Some(4), "{era}: {other:?}");
        let msg = other.error_json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            msg.contains("no tools/call request with these params"),
            "{msg}"
        );
        let read = run(&with_server(
            &["read", "test://static-text", "--protocol", era],
            &replayer,
        ));
        assert_eq!(read.code, Some(4), "{era}: {read:?}");
        assert!(
            read.stderr.contains("has no resources/read request"),
            "{read:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_recorder_passes_bytes_through_and_keeps_lines_that_are_not_json() {
    let dir = scratch("raw");
    let file = dir.join("raw.jsonl");
    let mut child = common::mcp(&["record", "-o", file.to_str().unwrap(), "--"])
        .arg(server_bin())
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let ping = r#"{"jsonrpc":"2.0","id":"p-1","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    writeln!(stdin, "{ping}").unwrap();
    let mut answer = String::new();
    stdout.read_line(&mut answer).unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["id"], "p-1");
    assert_eq!(
        answer["result"]["serverInfo"]["name"],
        "mcp-rs-conformance-server"
    );
    writeln!(stdin, "this is not json").unwrap();
    let mut reply = String::new();
    stdout.read_line(&mut reply).unwrap();
    drop(stdin);
    // Our stdin closing closes the server's, which then exits: so does the recorder, with its status.
    assert_eq!(wait_timeout(&mut child, Duration::from_secs(30)), Some(0));
    let rec = lines(&file);
    // The message as sent, byte for byte (key order included).
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(&format!(",\"msg\":{ping}}}")),
        "{text}"
    );
    assert_eq!(rec[1]["dir"], "s2c");
    assert_eq!(rec[1]["msg"]["id"], "p-1");
    assert_eq!(
        rec[2],
        json!({"dir": "c2s", "t_ms": rec[2]["t_ms"], "raw": "this is not json"})
    );
    assert_eq!(rec[3]["dir"], "s2c", "the server's answer to it: {reply}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_fails_to_start_or_a_missing_recording_is_a_clear_error() {
    let dir = scratch("bad");
    let file = dir.join("never.jsonl");
    let r = mcp_run(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--",
        "/nonexistent/server",
    ]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(
        r.stderr.contains("cannot start /nonexistent/server"),
        "{r:?}"
    );
    let r = mcp_run(&["replay", dir.join("missing.jsonl").to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r:?}");
    std::fs::write(&file, "{\"dir\":\"c2s\"\n").unwrap();
    let r = mcp_run(&["replay", file.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("is not a recording"), "{r:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_that_exits_at_once_ends_the_recording_while_stdin_is_still_open() {
    let dir = scratch("exit");
    let file = dir.join("exit.jsonl");
    for (script, code) in [("exit 0", Some(0)), ("echo bye >&2; exit 7", Some(3))] {
        let mut child = common::mcp(&[
            "record",
            "-o",
            file.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        // Our stdin stays open: the recorder must not wait for it once the server is gone.
        let _stdin = child.stdin.take().unwrap();
        assert_eq!(
            wait_timeout(&mut child, Duration::from_secs(20)),
            code,
            "{script}"
        );
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        if code == Some(3) {
            assert!(err.contains("bye") && err.contains("exited with"), "{err}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
