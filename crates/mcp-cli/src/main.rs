//! `mcp`: talk to any MCP server from a terminal or a script.
//!
//! ```text
//! mcp tools http://127.0.0.1:3000/mcp                 # a remote server (Streamable HTTP, or 2024-11-05 HTTP+SSE)
//! mcp call echo_typed_arguments code=007 tags=a,b -- conformance-server --stdio   # a stdio child
//! mcp info NAME --config mcp.json                     # a server of an mcp.json file (`mcpServers`)
//! ```
//!
//! Commands: `info`, `tools`, `resources`, `templates`, `prompts`, `call`, `read`, `prompt`, `complete`,
//! `ping`, `shell` (an interactive prompt running those on one session) and `bench` (C callers of a tool for
//! D seconds). Every command takes the server the same way (a URL, `-- CMD ARGS...`, or a config `NAME` with
//! `${VAR}` expansion) and the options `--header K:V`, `--env K=V`, `--timeout SECONDS`,
//! `--protocol auto|legacy|modern`, `--json`.
//!
//! `mcp login URL` signs in to a server that asks for OAuth (a browser, `--no-browser` to paste the
//! redirect, or `--client-credentials` for machines); every command then sends that server the stored
//! token, renewed before it expires (at a terminal, a command whose server wants a new sign-in opens the
//! browser itself). `mcp logout [URL]` forgets it, `mcp auth list` shows the sign-ins.
//! `mcp record -o FILE -- CMD...` passes a stdio session through and writes each message as a JSON line;
//! `mcp replay FILE` serves such a recording back as a stdio mock server.
//!
//! `mcp call` types `k=v` from the tool's `inputSchema` (a string property stays a string even when it is all
//! digits; an array property takes JSON or a comma list); `k:=JSON` is sent as written and `@FILE`/`@-`
//! merges a JSON object; `--raw` turns typing off. A server's elicitation is answered from `--answer K=V`,
//! asked on the terminal, or declined (`--no-input`, or no terminal). A server's sampling request is answered
//! with `--sample-reply TEXT` or by the reply typed on the terminal; with neither, sampling is not offered.
//!
//! `mcp bench TOOL k=v -c C -d SECONDS` has C callers call one tool back to back (arguments typed as `call`
//! types them) and prints calls/s, errors by kind and p50/p90/p99/max latency; failed calls are counted, and
//! the exit code is then the one `call` gives for the gravest failure seen (3, 4, then 5).
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 2 | usage error: bad flags or arguments, an unknown server name or tool |
//! | 3 | connection failure: unreachable, timed out, the server process exited or could not start |
//! | 4 | protocol or server error: a JSON-RPC error, a malformed answer |
//! | 5 | the tool ran and returned a result with `isError: true` |
//!
//! Errors are one line on stderr; with `--json`, one line of JSON: `{"error":{"kind","code","message"}}`.
#![deny(missing_docs)]

/// `println!` that ignores a closed stdout (`mcp tools ... | head` must not panic).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod args;
mod auth;
mod bench;
mod bridge;
mod cli;
mod commands;
mod config;
mod elicit;
mod error;
mod output;
mod record;
mod sample;
mod serve;
mod shell;
mod target;
mod tokens;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::error::{one_line, CliError, EXIT_OK, EXIT_USAGE};

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::from(EXIT_OK);
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(EXIT_USAGE);
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("usage error");
            let msg = first.strip_prefix("error: ").unwrap_or(first);
            report(&CliError::Usage(format!("{msg} (see mcp --help)")), json);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let json = cli.global.json;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(
                &CliError::Connect(format!("cannot start the runtime: {e}")),
                json,
            );
            return ExitCode::from(error::EXIT_CONNECT);
        }
    };
    let result = rt.block_on(commands::run(cli));
    // A read of stdin still blocked in its thread (record, replay) must not hold the exit.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            report(&e, json);
            ExitCode::from(e.exit_code())
        }
    }
}

/// Print `e` as one line on stderr: plain for people, JSON for scripts.
pub(crate) fn report(e: &CliError, json: bool) {
    let msg = one_line(&e.to_string());
    let mut err = std::io::stderr().lock();
    if json {
        let line =
            serde_json::json!({"error": {"kind": e.kind(), "code": e.exit_code(), "message": msg}});
        let _ = writeln!(err, "{line}");
    } else if output::styled() && std::io::stderr().is_terminal() {
        let _ = writeln!(err, "\x1b[1;31mmcp:\x1b[0m {msg}");
    } else {
        let _ = writeln!(err, "mcp: {msg}");
    }
}
