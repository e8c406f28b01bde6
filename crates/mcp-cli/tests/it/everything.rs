//! The real `mcp` binary against the official `@modelcontextprotocol/server-everything` (a legacy-era
//! TypeScript server), over stdio and Streamable HTTP. Skipped when the peers are not installed (run
//! `.ci/install-peers.sh`), unless `MCP_REQUIRE_PEERS=1` (CI), which makes a missing peer a failure: the same
//! convention as `crates/mcp-conformance/tests/peers`.

use crate::common;
use crate::peers;

use std::process::Command;

use common::*;

/// `node` and server-everything's entry point, from the installed peers.
fn everything() -> Option<(String, String)> {
    let p = peers::peers()?;
    let entry = p.everything();
    Some((p.node, entry))
}

/// server-everything over Streamable HTTP on a free port (retried on another when one is taken meanwhile:
/// it cannot be given port 0 and name the port it got); killed on drop.
fn everything_http(node: &str, entry: &str) -> ServerProcess {
    ServerProcess::start_on_free_port(
        |port| {
            let mut c = Command::new(node);
            c.args([entry, "streamableHttp"])
                .env("PORT", port.to_string());
            c
        },
        "listening on port",
    )
}

#[test]
fn server_everything_over_stdio_and_http() {
    let Some((node, entry)) = everything() else {
        return;
    };
    let h = everything_http(&node, &entry);
    let servers = [
        Server {
            name: "stdio",
            before: vec![],
            after: vec!["--".into(), node.clone(), entry.clone(), "stdio".into()],
        },
        Server {
            name: "http",
            before: vec![h.mcp_url()],
            after: vec![],
        },
    ];
    for s in &servers {
        let what = s.name;
        let info = s.run("info", &["--json"]);
        assert_eq!(info.code, Some(0), "{what}: {info:?}");
        assert_eq!(info.json()["era"], "legacy", "{what}");

        let tools = s.run("tools", &["--json"]);
        assert_eq!(tools.code, Some(0), "{what}: {tools:?}");
        let names: Vec<String> = tools.json()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        for n in ["echo", "get-sum", "trigger-elicitation-request"] {
            assert!(
                names.iter().any(|x| x == n),
                "{what}: {n} missing from {names:?}"
            );
        }

        // Numbers typed as numbers (zod rejects strings), a string of digits kept a string.
        let r = s.run("call", &["get-sum", "a=2", "b=3.5"]);
        assert_eq!(
            (r.code, r.stdout.trim()),
            (Some(0), "The sum of 2 and 3.5 is 5.5."),
            "{what}: {r:?}"
        );
        let r = s.run("call", &["echo", "message=00123", "--json"]);
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        assert_eq!(r.json()["content"][0]["text"], "Echo: 00123", "{what}");

        // The server's elicitation request, answered from the command line.
        let r = s.run(
            "call",
            &[
                "trigger-elicitation-request",
                "--answer",
                "name=Ada Lovelace",
                "--answer",
                "integer=7",
            ],
        );
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        assert!(r.stdout.contains("- Name: Ada Lovelace"), "{what}: {r:?}");
        assert!(r.stdout.contains("- Favorite Integer: 7"), "{what}: {r:?}");
        let r = s.run("call", &["trigger-elicitation-request", "--no-input"]);
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        assert!(r.stdout.contains("declined"), "{what}: {r:?}");

        // Progress notifications while it runs; the result at the end.
        let r = s.run(
            "call",
            &[
                "trigger-long-running-operation",
                "duration=0.2",
                "steps=2",
                "--json",
            ],
        );
        assert_eq!(r.code, Some(0), "{what}: {r:?}");
        let text = r.json()["content"][0]["text"].as_str().map(str::to_owned);
        assert!(
            text.as_deref()
                .is_some_and(|t| t.starts_with("Long running operation completed")),
            "{what}: {text:?}"
        );
    }
}
