//! Interop: the official TypeScript (2.x and 1.x) and Python clients against our `conformance-server`, over
//! stdio and Streamable HTTP, on both eras. The peers are installed by `.ci/install-peers.sh`; without them the
//! tests are skipped with a reason, unless `MCP_REQUIRE_PEERS=1` (as CI sets), when they fail.

use crate::peers;

use peers::{PeerRuns, Peers, ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_conformance-server");

fn run_matrix(p: &Peers, cases: &[(&str, &str, &str)]) {
    let http = ServerProcess::start(std::process::Command::new(SERVER).args(["--port", "0"]));
    let mut failures = Vec::new();
    for (client, transport, era) in cases {
        let target: Vec<String> = match *transport {
            "stdio" => vec!["--stdio".into(), format!("{SERVER} --stdio")],
            _ => vec!["--url".into(), http.mcp_url()],
        };
        let mut args = target;
        args.extend(["--era".to_string(), era.to_string()]);
        let run = p.run_client(client, &args);
        println!("{client} {transport} {era}: {}", run.summary());
        // Our server speaks both eras, so a client that negotiates (auto) must land on the modern one.
        let expected_era = if *era == "legacy" { "legacy" } else { "modern" };
        if !run.ok() || run.era.as_deref() != Some(expected_era) {
            failures.push(format!(
                "{client} over {transport} ({era}):\n{}",
                run.output
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "interop failures:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn typescript_v2_client_both_eras_stdio_and_http() {
    let Some(p) = Peers::load() else { return };
    run_matrix(
        &p,
        &[
            ("ts-client-v2.mjs", "stdio", "legacy"),
            ("ts-client-v2.mjs", "stdio", "modern"),
            ("ts-client-v2.mjs", "http", "legacy"),
            ("ts-client-v2.mjs", "http", "modern"),
            ("ts-client-v2.mjs", "http", "auto"),
        ],
    );
}

#[test]
fn typescript_v1_client_legacy_stdio_and_http() {
    let Some(p) = Peers::load() else { return };
    run_matrix(
        &p,
        &[
            ("ts-client-v1.mjs", "stdio", "legacy"),
            ("ts-client-v1.mjs", "http", "legacy"),
        ],
    );
}

#[test]
fn python_client_both_eras_stdio_and_http() {
    let Some(p) = Peers::load() else { return };
    run_matrix(
        &p,
        &[
            ("py_client.py", "stdio", "legacy"),
            ("py_client.py", "stdio", "modern"),
            ("py_client.py", "http", "legacy"),
            ("py_client.py", "http", "modern"),
        ],
    );
}
