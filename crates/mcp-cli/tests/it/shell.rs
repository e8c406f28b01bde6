//! `mcp shell` driven by lines piped on stdin, and the server's sampling requests during `mcp call`: the real
//! binary against `conformance-server`, over stdio and Streamable HTTP, on both eras.

use crate::common;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use serde_json::{json, Value};

const ERAS: [&str; 2] = ["legacy", "modern"];

/// `mcp ARGS` with `input` on stdin (from a file: nothing to write while the child runs).
fn run_with_input(args: &[String], input: &str) -> Run {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "mcp-cli-shell-input-{}-{}.txt",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, input).unwrap();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = mcp(&refs);
    c.stdin(Stdio::from(std::fs::File::open(&path).unwrap()));
    let r = run(c);
    let _ = std::fs::remove_file(&path);
    r
}

const SCRIPT: &str = "\
tools
call echo_typed_arguments code=007 tags=a,b \"count=3\"
call echo_typed_arguments count=many
no_such_command
call test_simple_text
exit
call test_simple_text
";

#[test]
fn a_piped_shell_runs_each_line_on_one_session_and_goes_on_after_a_bad_one() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for era in ERAS {
            let what = format!("{} {era}", server.name);
            let r = run_with_input(&server.args("shell", &["--protocol", era]), SCRIPT);
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            // The tools table, the typed call's echo, the text tool once (nothing after `exit`).
            assert!(
                r.stdout
                    .lines()
                    .any(|l| l.contains("echo_typed_arguments") && l.contains("tags: string[]")),
                "{what}: {r:?}"
            );
            assert!(
                r.stdout.contains(r#""code":"007""#) && r.stdout.contains(r#""tags":["a","b"]"#),
                "{what}: {r:?}"
            );
            assert_eq!(
                r.stdout
                    .matches("This is a simple text response for testing.")
                    .count(),
                1,
                "{what}: {r:?}"
            );
            // One line per bad line, each naming what was wrong.
            let errors: Vec<&str> = r.stderr.lines().collect();
            assert_eq!(errors.len(), 2, "{what}: {r:?}");
            assert!(
                errors[0].starts_with("mcp: ") && errors[0].contains("count"),
                "{what}: {r:?}"
            );
            assert!(errors[1].contains("no_such_command"), "{what}: {r:?}");
        }
    }
}

#[test]
fn a_json_shell_prints_one_line_per_result_and_per_error() {
    let r = run_with_input(
        &stdio().args("shell", &["--json"]),
        "call echo_typed_arguments code=1\nread nothing://here\nping\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let results: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {r:?}")))
        .collect();
    assert_eq!(results.len(), 2, "{r:?}");
    assert_eq!(results[0]["structuredContent"], json!({"code": "1"}));
    assert_eq!(results[1]["ok"], true);
    let e = r.error_json();
    assert_eq!(e["error"]["kind"], "protocol", "{r:?}");
}

#[test]
fn sampling_is_answered_by_the_reply_flag_on_every_transport_and_era() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for era in ERAS {
            let what = format!("{} {era}", server.name);
            let r = server.run(
                "call",
                &[
                    "test_sampling",
                    "prompt=Capital of France?",
                    "--sample-reply",
                    "Paris",
                    "--protocol",
                    era,
                ],
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(r.stdout.trim(), "LLM response: Paris", "{what}");
            // The same inside the shell, with the flag given to it.
            let r = run_with_input(
                &server.args("shell", &["--sample-reply", "Lyon", "--protocol", era]),
                "call test_sampling prompt=Capital?\n",
            );
            assert_eq!(r.code, Some(0), "{what}: {r:?}");
            assert_eq!(r.stdout.trim(), "LLM response: Lyon", "{what}: {r:?}");
        }
    }
}

#[test]
fn without_a_reply_sampling_is_not_offered_and_the_call_fails_saying_how_to_answer() {
    let h = HttpServer::start();
    for server in [stdio(), http(&h)] {
        for era in ERAS {
            let what = format!("{} {era}", server.name);
            let r = server.run(
                "call",
                &[
                    "test_sampling",
                    "prompt=Capital?",
                    "--no-input",
                    "--protocol",
                    era,
                ],
            );
            assert_eq!(r.code, Some(4), "{what}: {r:?}");
            assert_eq!(r.stderr.lines().count(), 1, "{what}: {r:?}");
            assert!(
                r.stderr.contains("sampling") && r.stderr.contains("--sample-reply"),
                "{what}: {r:?}"
            );
        }
    }
}
