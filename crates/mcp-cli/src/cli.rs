//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Choosing a server (every command takes one the same way):
  mcp tools http://127.0.0.1:3000/mcp     a URL: Streamable HTTP, falling back to 2024-11-05 HTTP+SSE
  mcp tools -- node server.js --flag      a command after `--`: a stdio child process (add --env K=V)
  mcp tools NAME                          a server of mcp.json (`mcpServers`: command/args/env or url/headers,
                                          with ${VAR} and ${VAR:-default} expanded); --config FILE, else
                                          ./mcp.json, else <user config dir>/mcp/mcp.json

Exit codes:
  0  success
  2  usage error (bad flags or arguments, unknown server name or tool)
  3  connection failure (unreachable, timed out, the server process exited)
  4  protocol or server error (a JSON-RPC error, a malformed answer)
  5  the tool ran and returned a result with isError: true
  mcp bench counts failed calls and prints its report, then exits with the code of the gravest failure seen
  (3 timeout or connection, 4 JSON-RPC error or malformed answer, 5 isError)

Questions from the server (during a call, a prompt, a shell):
  elicitation  asked on the terminal; or answered with --answer FIELD=VALUE; else declined (--no-input, no terminal)
  sampling     the model's reply is typed on the terminal (an empty reply declines), or --sample-reply TEXT
               answers every request; with neither (--no-input, no terminal) sampling is not offered

Errors are one line on stderr; with --json, one line of JSON: {\"error\":{\"kind\",\"code\",\"message\"}}.
Colour is off when NO_COLOR is set or the output is not a terminal.";

/// Talk to any MCP server: inspect it, call its tools, read its resources.
#[derive(Debug, Parser)]
#[command(name = "mcp", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options shared by every command.
    #[command(flatten)]
    pub global: Global,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Config file with `mcpServers` (default ./mcp.json, else <user config dir>/mcp/mcp.json).
    #[arg(long, global = true, env = "MCP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An HTTP header for a remote server (repeatable).
    #[arg(long = "header", short = 'H', global = true, value_name = "K:V")]
    pub headers: Vec<String>,
    /// An environment variable for a stdio server (repeatable).
    #[arg(long = "env", short = 'e', global = true, value_name = "K=V")]
    pub env: Vec<String>,
    /// Seconds to wait for the connection and for each answer (progress resets the wait).
    #[arg(
        long,
        global = true,
        env = "MCP_TIMEOUT",
        default_value = "60",
        value_name = "SECONDS"
    )]
    pub timeout: f64,
    /// Protocol era: `auto` probes for 2026-07-28 and falls back to the legacy handshake.
    #[arg(long, global = true, value_enum, default_value_t = Protocol::Auto)]
    pub protocol: Protocol,
    /// Machine-readable output: results as JSON on stdout, errors as one JSON line on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer a server's elicitation question: field=value (repeatable).
    #[arg(long = "answer", global = true, value_name = "K=V")]
    pub answers: Vec<String>,
    /// Never ask on the terminal: decline what `--answer` does not cover, and offer the server sampling only
    /// with `--sample-reply`.
    #[arg(long, global = true)]
    pub no_input: bool,
    /// Answer every sampling request of the server (`sampling/createMessage`) with this text, as the model's
    /// reply. Without it, the reply is asked on the terminal; with neither, sampling is not offered.
    #[arg(long, global = true, value_name = "TEXT")]
    pub sample_reply: Option<String>,
    /// Show a stdio server's stderr as it runs (by default it is shown only when the connection fails).
    #[arg(long, global = true)]
    pub server_stderr: bool,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Probe with `server/discover`; fall back to `initialize`.
    Auto,
    /// The `initialize` handshake (2025-11-25 and older).
    Legacy,
    /// 2026-07-28, stateless, no fallback.
    Modern,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Server name, version, era, protocol revision, capabilities and instructions.
    Info(Target),
    /// List the tools.
    Tools(Target),
    /// List the resources.
    Resources(Target),
    /// List the resource templates.
    Templates(Target),
    /// List the prompts.
    Prompts(Target),
    /// Call a tool: `mcp call SERVER TOOL k=v k:=JSON @args.json` (or `mcp call TOOL k=v -- CMD...`).
    ///
    /// `k=v` is typed from the tool's inputSchema (a string property stays a string, an array property takes
    /// JSON or a comma list, numbers and booleans are parsed); `k:=JSON` is sent as that JSON; `@FILE` (or
    /// `@-` for stdin) merges a JSON object of arguments.
    Call(CallArgs),
    /// Read a resource: `mcp read SERVER URI`.
    Read(Target),
    /// Get a prompt: `mcp prompt SERVER NAME k=v`.
    Prompt(Target),
    /// Complete an argument: `mcp complete SERVER (--prompt NAME | --resource URI) ARG [VALUE]`.
    Complete(CompleteArgs),
    /// Check that the server answers, and how fast.
    Ping(Target),
    /// An interactive prompt on one session: `mcp shell SERVER`, then `tools`, `call TOOL k=v`, `read URI`...
    ///
    /// `info`, `tools`, `resources`, `templates`, `prompts`, `call`, `read`, `prompt`, `complete` and `ping`
    /// as one-shot commands take them, without the server; `help`, and `exit` (or Ctrl-D). History is kept in
    /// <user config dir>/mcp/shell_history; Tab completes commands, tool, prompt and resource names and a
    /// tool's argument names. An error prints one line and the shell goes on. Lines piped on stdin are run in
    /// order (`--json`: one JSON line per result).
    Shell(Target),
    /// Load-test a tool: `mcp bench SERVER TOOL [k=v ...] -c 16 -d 10`: calls/s, errors by kind, latency.
    ///
    /// C callers (`--concurrency`) call the tool back to back for D seconds (`--duration`) after a warm-up
    /// whose calls are not counted, spread over `--connections` sessions (stdio: child processes). Arguments
    /// are typed as `mcp call` types them, once, and every call sends the same ones. Each call waits up to
    /// --timeout. Prints calls, calls/s, errors by kind (JSON-RPC error, isError result, timeout, transport,
    /// protocol) and p50/p90/p99/max latency of the calls that succeeded; `--json` prints one object.
    ///
    /// Failed calls are counted, not fatal: the report is printed in full, then the exit code is the one
    /// `mcp call` gives for the gravest failure seen: 3 if any call timed out or lost its connection, else 4
    /// for a JSON-RPC error or a malformed answer, else 5 for isError results; 0 when every call succeeded.
    Bench(BenchArgs),
    /// Sign in to a server that asks for OAuth; every command then uses the sign-in for that URL.
    ///
    /// `mcp login URL` opens a browser; `--no-browser` prints the URL and reads back the address the
    /// browser was sent to; `--client-credentials --client-id ID --client-secret-env VAR` signs in a
    /// machine. Tokens are kept in <user config dir>/mcp/auth.json (mode 0600; MCP_CONFIG_DIR moves it) and
    /// renewed before they expire.
    Login(crate::auth::LoginArgs),
    /// Forget the sign-in to a server (every server without URL).
    Logout(crate::auth::LogoutArgs),
    /// Sign-ins: `mcp auth list`.
    Auth(crate::auth::AuthArgs),
    /// Run a stdio server and write every message of the session to a file: `mcp record -o FILE -- CMD...`.
    Record(crate::record::RecordArgs),
    /// Serve a recorded session as a stdio mock server: `mcp replay FILE`.
    Replay(crate::record::ReplayArgs),
    /// Serve a remote (or any) server on stdin/stdout, for hosts that only launch stdio servers.
    Bridge(crate::bridge::BridgeArgs),
    /// Serve a stdio server over Streamable HTTP on 127.0.0.1, to clients of both eras.
    Serve(crate::serve::ServeArgs),
}

impl Command {
    /// The server and words of a command that runs once on a session (`info` … `ping`, `call`, `complete`):
    /// what the one-shot commands and the shell's lines share. `None` for the others.
    pub fn session_target(&self) -> Option<&Target> {
        match self {
            Command::Info(t)
            | Command::Tools(t)
            | Command::Resources(t)
            | Command::Templates(t)
            | Command::Prompts(t)
            | Command::Read(t)
            | Command::Prompt(t)
            | Command::Ping(t) => Some(t),
            Command::Call(c) => Some(&c.target),
            Command::Complete(c) => Some(&c.target),
            _ => None,
        }
    }
}

/// A server and the command's own words.
#[derive(Debug, Args, Clone)]
pub struct Target {
    /// SERVER (a URL or a config name) unless a command follows `--`, then the command's words.
    #[arg(value_name = "SERVER_AND_ARGS")]
    pub words: Vec<String>,
    /// A stdio server to run: `-- CMD ARGS...`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `mcp call`.
#[derive(Debug, Args, Clone)]
pub struct CallArgs {
    /// The server and the call.
    #[command(flatten)]
    pub target: Target,
    /// Send every `k=v` as a string, whatever the schema says.
    #[arg(long)]
    pub raw: bool,
}

/// `mcp bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// The server, the tool and its arguments.
    #[command(flatten)]
    pub target: Target,
    /// Callers calling at the same time, each one call after another.
    #[arg(long, short = 'c', default_value_t = 16, value_name = "C")]
    pub concurrency: usize,
    /// Seconds measured.
    #[arg(long, short = 'd', default_value_t = 10.0, value_name = "SECONDS")]
    pub duration: f64,
    /// Seconds of calls made first and not counted.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub warmup: f64,
    /// Sessions the callers are spread over (stdio: one child process each).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub connections: usize,
    /// Send every `k=v` as a string, whatever the schema says.
    #[arg(long)]
    pub raw: bool,
}

/// `mcp complete`.
#[derive(Debug, Args, Clone)]
pub struct CompleteArgs {
    /// The server, the argument's name and what was typed so far.
    #[command(flatten)]
    pub target: Target,
    /// Complete an argument of this prompt.
    #[arg(long, value_name = "NAME", conflicts_with = "resource")]
    pub prompt: Option<String>,
    /// Complete a variable of this resource template.
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
    /// An argument already given (repeatable).
    #[arg(long = "context", value_name = "K=V")]
    pub context: Vec<String>,
}
