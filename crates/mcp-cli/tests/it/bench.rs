//! `mcp bench`, the real binary against `conformance-server` over stdio and Streamable HTTP. Every run is 1 s
//! with no warm-up, and nothing asserts a speed: only what was counted and how the run ended.

use crate::common;

use common::*;
use serde_json::Value;

/// `mcp bench` for 1 s, no warm-up, JSON out.
fn bench(server: &Server, words: &[&str]) -> Run {
    let mut w = vec!["--duration", "1", "--warmup", "0", "--json"];
    w.extend(words);
    server.run("bench", &w)
}

fn ms(v: &Value, q: &str) -> f64 {
    v["latencyMs"][q]
        .as_f64()
        .unwrap_or_else(|| panic!("no latencyMs.{q}: {v}"))
}

#[test]
fn json_report_over_stdio_and_http() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        let what = server.name;
        let r = bench(&server, &["test_simple_text", "-c", "4"]);
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        assert_eq!(r.stderr, "", "{what}");
        let v = r.json();
        let calls = v["calls"].as_u64().unwrap();
        assert!(calls > 0, "{what}: {v}");
        assert_eq!(v["ok"].as_u64(), Some(calls), "{what}: {v}");
        assert_eq!(v["errors"]["total"], 0, "{what}: {v}");
        for kind in ["jsonRpc", "isError", "timeout", "transport", "protocol"] {
            assert_eq!(v["errors"][kind], 0, "{what} {kind}: {v}");
        }
        assert_eq!(v["firstErrors"], serde_json::json!({}), "{what}");
        assert!(
            0.0 < ms(&v, "p50")
                && ms(&v, "p50") <= ms(&v, "p90")
                && ms(&v, "p90") <= ms(&v, "p99")
                && ms(&v, "p99") <= ms(&v, "max"),
            "{what}: {v}"
        );
        assert!(v["callsPerSecond"].as_f64().unwrap() > 0.0, "{what}: {v}");
        assert!(v["seconds"].as_f64().unwrap() >= 1.0, "{what}: {v}");
        assert_eq!(
            (v["concurrency"].as_u64(), v["connections"].as_u64()),
            (Some(4), Some(1)),
            "{what}"
        );
        assert_eq!(v["tool"], "test_simple_text");
        let transport = if what == "stdio" {
            "stdio"
        } else {
            "streamable-http"
        };
        assert_eq!(v["transport"], transport);
    }
}

#[test]
fn arguments_are_typed_like_call_and_callers_spread_over_connections() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        let what = server.name;
        // `code` is a string property: typed as `mcp call` types it, "007" stays a string and the server
        // (which validates the arguments) accepts every call; `count=abc` is refused before any call.
        let r = bench(
            &server,
            &[
                "echo_typed_arguments",
                "code=007",
                "tags=a,b",
                "count:=3",
                "-c",
                "4",
                "--connections",
                "2",
                "--protocol",
                "legacy",
            ],
        );
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        let v = r.json();
        assert_eq!(v["connections"], 2, "{what}");
        assert_eq!(v["protocolVersion"], "2025-11-25", "{what}");
        assert!(v["ok"].as_u64().unwrap() > 0, "{what}: {v}");
        assert_eq!(v["errors"]["total"], 0, "{what}: {v}");

        let r = bench(&server, &["echo_typed_arguments", "count=abc"]);
        assert_eq!(r.code, Some(2), "{what}: {r:?}");
        assert!(
            r.error_json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("count"),
            "{what}: {r:?}"
        );
    }
}

#[test]
fn is_error_results_are_counted_and_exit_5_after_the_report() {
    let s = stdio();
    let r = bench(&s, &["test_error_handling", "-c", "2"]);
    assert_eq!(r.code, Some(5), "{r:?}");
    let v = r.json();
    let calls = v["calls"].as_u64().unwrap();
    assert!(calls > 0, "{v}");
    assert_eq!(v["ok"], 0, "{v}");
    assert_eq!(v["errors"]["isError"].as_u64(), Some(calls), "{v}");
    assert_eq!(v["errors"]["total"].as_u64(), Some(calls), "{v}");
    assert!(
        v["firstErrors"]["isError"]
            .as_str()
            .unwrap()
            .contains("intentionally"),
        "{v}"
    );
    let e = r.error_json();
    assert_eq!(
        (e["error"]["kind"].as_str(), e["error"]["code"].as_i64()),
        (Some("tool"), Some(5))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{calls} of {calls} calls failed")),
        "{e}"
    );

    // For people: the table, the errors by kind, then one line on stderr.
    let r = s.run(
        "bench",
        &["test_error_handling", "-d", "1", "--warmup", "0", "-c", "1"],
    );
    assert_eq!(r.code, Some(5), "{r:?}");
    assert!(
        r.stdout.contains("CALLS/S")
            && r.stdout.contains("isError result")
            && r.stdout
                .contains("This tool intentionally returns an error"),
        "{r:?}"
    );
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(r.stderr.starts_with("mcp: ") && r.stderr.contains("calls failed"));
}

#[test]
fn the_human_report_is_a_table_and_piped_output_has_no_progress_line() {
    let r = stdio().run(
        "bench",
        &["test_simple_text", "-d", "1", "--warmup", "0.2", "-c", "2"],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("test_simple_text on ")
            && lines[0].contains("2 callers on 1 connection")
            && lines[0].contains("after 0.2 s of warm-up"),
        "{r:?}"
    );
    for head in ["CALLS", "CALLS/S", "ERRORS", "P50", "P90", "P99", "MAX"] {
        assert!(lines[2].contains(head), "{head}: {r:?}");
    }
    assert!(!r.stdout.contains("ERROR "), "no error table: {r:?}");
    assert!(!r.stdout.contains('\r'), "{r:?}");
}

#[test]
fn unknown_tools_bad_flags_and_unreachable_servers_fail_before_measuring() {
    let s = stdio();
    let r = s.run("bench", &["no_such_tool", "-d", "1"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("mcp: unknown tool \"no_such_tool\"; the server has: "),
        "{r:?}"
    );
    for bad in [
        &["test_simple_text", "-c", "0"][..],
        &["test_simple_text", "-d", "0"],
        &["test_simple_text", "-c", "2", "--connections", "3"],
        &[],
    ] {
        let r = s.run("bench", bad);
        assert_eq!(r.code, Some(2), "{bad:?}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{bad:?}: {r:?}");
    }

    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let r = mcp_run(&["bench", &url, "test_simple_text", "-d", "1", "--json"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert_eq!(r.stdout, "");
    assert_eq!(r.error_json()["error"]["kind"], "connection");
}
