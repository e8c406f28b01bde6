//! Which server to talk to (a URL, a command after `--`, or a config name) and connecting to it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::transport::{
    ChildProcessTransport, HttpTransport, LegacySseTransport, StderrMode, Transport,
};
use mcp_client::{Client, ClientOptions, VersionMode};
use mcp_protocol::types::Implementation;
use mcp_protocol::ProtocolVersion;

use crate::cli::{Global, Protocol, Target};
use crate::config;
use crate::elicit::Elicitor;
use crate::error::CliError;
use crate::sample::Sampler;

/// A server, resolved from the command line and the config file.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerSpec {
    /// A remote server.
    Http {
        /// Its URL.
        url: String,
        /// Headers sent with every request.
        headers: Vec<(String, String)>,
        /// Speak the 2024-11-05 HTTP+SSE transport directly (config `"type": "sse"`).
        sse: bool,
    },
    /// A child process spoken to over stdio.
    Stdio {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: Vec<(String, String)>,
        /// Its working directory.
        cwd: Option<String>,
    },
}

impl ServerSpec {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Http { url, .. } => url.clone(),
            Self::Stdio { program, args, .. } => std::iter::once(program.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn split_pair(s: &str, sep: char, what: &str) -> Result<(String, String), CliError> {
    match s.split_once(sep) {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(CliError::Usage(format!(
            "{what} {s:?} should look like NAME{sep}VALUE"
        ))),
    }
}

/// Split a command's words into the server and the rest: with a command after `--` every word is the
/// command's; otherwise the first word names the server.
pub fn resolve(
    target: &Target,
    global: &Global,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ServerSpec, Vec<String>), CliError> {
    let headers = global
        .headers
        .iter()
        .map(|h| split_pair(h, ':', "header"))
        .collect::<Result<Vec<_>, _>>()?;
    let extra_env = global
        .env
        .iter()
        .map(|e| split_pair(e, '=', "--env"))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((program, args)) = target.command.split_first() {
        if !headers.is_empty() {
            return Err(CliError::Usage(
                "--header applies to a URL, not to a command".into(),
            ));
        }
        let spec = ServerSpec::Stdio {
            program: program.clone(),
            args: args.to_vec(),
            env: extra_env,
            cwd: None,
        };
        return Ok((spec, target.words.clone()));
    }
    let Some((first, rest)) = target.words.split_first() else {
        return Err(CliError::Usage(
            "which server? give a URL, a name from mcp.json, or a command after --".into(),
        ));
    };
    if is_url(first) {
        if !extra_env.is_empty() {
            return Err(CliError::Usage(
                "--env applies to a command, not to a URL".into(),
            ));
        }
        let spec = ServerSpec::Http {
            url: first.clone(),
            headers,
            sse: false,
        };
        return Ok((spec, rest.to_vec()));
    }
    let entry = config::lookup(global.config.as_deref(), first, env)?;
    let spec = match (&entry.command, &entry.url) {
        (Some(program), None) => {
            let mut env: Vec<(String, String)> = entry.env.into_iter().collect();
            env.extend(extra_env);
            ServerSpec::Stdio {
                program: program.clone(),
                args: entry.args,
                env,
                cwd: entry.cwd,
            }
        }
        (None, Some(url)) => {
            let mut all: Vec<(String, String)> = entry.headers.into_iter().collect();
            // A header given on the command line replaces the config's of the same name.
            all.retain(|(k, _)| !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)));
            all.extend(headers);
            ServerSpec::Http {
                url: url.clone(),
                headers: all,
                sse: entry.kind.as_deref() == Some("sse"),
            }
        }
        _ => {
            return Err(CliError::Usage(format!(
                "server {first:?} needs exactly one of \"command\" and \"url\""
            )))
        }
    };
    Ok((spec, rest.to_vec()))
}

/// How the connection was made, for `mcp info`.
pub struct Connection {
    /// The connected client.
    pub client: Client,
    /// `stdio`, `streamable-http` or `http+sse`.
    pub transport: &'static str,
}

/// The last lines a stdio server wrote to stderr, to explain a failed connection.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    const LINES: usize = 5;

    fn push(&self, line: String) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == Self::LINES {
            q.pop_front();
        }
        q.push_back(line);
    }

    fn last(&self) -> Option<String> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().rev().find(|l| !l.trim().is_empty()).cloned()
    }
}

/// Connect to `spec`, bounded by the global timeout.
pub async fn connect(
    spec: &ServerSpec,
    global: &Global,
    elicitor: Elicitor,
    sampler: Option<Sampler>,
) -> Result<Connection, CliError> {
    let timeout = timeout(global)?;
    let old_sse = matches!(spec, ServerSpec::Http { sse: true, .. });
    let mode = match global.protocol {
        // The HTTP+SSE transport belongs to the legacy revisions: no 2026-07-28 probe over it.
        Protocol::Auto if old_sse => VersionMode::Legacy,
        Protocol::Auto => VersionMode::Auto,
        Protocol::Legacy => VersionMode::Legacy,
        Protocol::Modern => VersionMode::Pinned(ProtocolVersion::V2026_07_28),
    };
    let mut builder = Client::builder()
        .client_info(Implementation::new("mcp-cli", env!("CARGO_PKG_VERSION")))
        .version_mode(mode)
        .options(
            ClientOptions::default()
                .request_timeout(timeout)
                .probe_timeout(timeout.min(Duration::from_secs(5))),
        )
        .elicitation_handler(move |p| elicitor.answer(p));
    // Declared only when a request can be answered: a server with another way to its result takes it.
    if let Some(sampler) = sampler {
        builder = builder.sampling_handler(move |p| sampler.answer(p));
    }
    let tail = StderrTail::default();
    let (transport, kind): (
        Arc<dyn Transport>,
        Arc<dyn Fn() -> &'static str + Send + Sync>,
    ) = match spec {
        ServerSpec::Http { url, headers, sse } if *sse => {
            if !headers.is_empty() {
                return Err(CliError::Usage(
                        "headers are not supported with \"type\": \"sse\"; use the server's Streamable HTTP URL".into(),
                    ));
            }
            let t = tokio::time::timeout(timeout, LegacySseTransport::connect(url))
                .await
                .map_err(|_| CliError::Connect(format!("{url}: timed out")))?
                .map_err(|e| connect_error(spec, e, None))?;
            (Arc::new(t), Arc::new(|| "http+sse"))
        }
        ServerSpec::Http { url, headers, .. } => {
            let t = Arc::new(http_transport(url, headers, global)?);
            let probe = t.clone();
            let kind = Arc::new(move || {
                if probe.is_legacy_sse() {
                    "http+sse"
                } else {
                    "streamable-http"
                }
            });
            (t, kind)
        }
        ServerSpec::Stdio {
            program,
            args,
            env,
            cwd,
        } => {
            let mut b = ChildProcessTransport::command(program)
                .args(args)
                .shutdown_grace(Duration::from_secs(1), Duration::from_secs(1));
            for (k, v) in env {
                b = b.env(k, v);
            }
            if let Some(dir) = cwd {
                b = b.current_dir(dir);
            }
            let pass = global.server_stderr;
            let sink = tail.clone();
            b = b.stderr(StderrMode::Lines(Arc::new(move |line| {
                if pass {
                    eprintln!("{line}");
                }
                sink.push(line);
            })));
            let t = b
                .spawn()
                .map_err(|e| CliError::Connect(format!("cannot start {}: {e}", spec.describe())))?;
            (Arc::new(t), Arc::new(|| "stdio"))
        }
    };
    match tokio::time::timeout(timeout, builder.connect_shared(transport.clone())).await {
        Ok(Ok(client)) => Ok(Connection {
            client,
            transport: kind(),
        }),
        Ok(Err(e)) => {
            let _ = transport.close().await;
            Err(connect_error(spec, e, tail.last()))
        }
        Err(_) => {
            let _ = transport.close().await;
            Err(CliError::Connect(format!(
                "{}: no answer within {}s{}",
                spec.describe(),
                timeout.as_secs_f64(),
                tail.last()
                    .map(|l| format!(" (server stderr: {l})"))
                    .unwrap_or_default()
            )))
        }
    }
}

fn connect_error(spec: &ServerSpec, e: mcp_client::Error, stderr: Option<String>) -> CliError {
    let inner = CliError::from_client(e);
    let hint = stderr
        .map(|l| format!(" (server stderr: {l})"))
        .unwrap_or_default();
    let msg = format!("{}: {inner}{hint}", spec.describe());
    match inner {
        CliError::Protocol(_) => CliError::Protocol(msg),
        _ => CliError::Connect(msg),
    }
}

/// `--timeout` as a duration.
pub fn timeout(global: &Global) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(global.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--timeout {} is not a positive number of seconds",
                global.timeout
            ))
        })
}

/// The Streamable HTTP transport to `url` with the given headers; a server signed in to with `mcp login` gets
/// its stored token, unless the headers already carry credentials.
pub(crate) fn http_transport(
    url: &str,
    headers: &[(String, String)],
    global: &Global,
) -> Result<HttpTransport, CliError> {
    let mut b = HttpTransport::builder(url.to_owned());
    for (k, v) in headers {
        b = b.header(k.clone(), v.clone());
    }
    if !crate::auth::has_authorization(headers) {
        if let Some(auth) = crate::auth::provider(url, global) {
            b = b.auth(auth);
        }
    }
    b.build().map_err(|e| CliError::Usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> (Target, Global) {
        let cli = crate::cli::Cli::try_parse_from(args).unwrap();
        match cli.command {
            crate::cli::Command::Tools(t) => (t, cli.global),
            crate::cli::Command::Call(c) => (c.target, cli.global),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_url_takes_headers() {
        let (t, g) = parse(&[
            "mcp",
            "call",
            "http://127.0.0.1:9/mcp",
            "echo",
            "a=1",
            "-H",
            "X-Key: v",
        ]);
        let (spec, rest) = resolve(&t, &g, &no_env).unwrap();
        assert_eq!(
            spec,
            ServerSpec::Http {
                url: "http://127.0.0.1:9/mcp".into(),
                headers: vec![("X-Key".into(), "v".into())],
                sse: false
            }
        );
        assert_eq!(rest, ["echo", "a=1"]);
    }

    #[test]
    fn a_command_after_dashes_owns_every_word_before() {
        let (t, g) = parse(&[
            "mcp", "call", "echo", "a=1", "--env", "K=V", "--", "srv", "--stdio",
        ]);
        let (spec, rest) = resolve(&t, &g, &no_env).unwrap();
        assert_eq!(
            spec,
            ServerSpec::Stdio {
                program: "srv".into(),
                args: vec!["--stdio".into()],
                env: vec![("K".into(), "V".into())],
                cwd: None
            }
        );
        assert_eq!(rest, ["echo", "a=1"]);
    }

    #[test]
    fn misplaced_flags_and_missing_servers_are_usage_errors() {
        let (t, g) = parse(&["mcp", "tools", "-H", "A:b", "--", "srv"]);
        assert!(matches!(resolve(&t, &g, &no_env), Err(CliError::Usage(_))));
        let (t, g) = parse(&["mcp", "tools", "--env", "A=b", "http://127.0.0.1:9/"]);
        assert!(matches!(resolve(&t, &g, &no_env), Err(CliError::Usage(_))));
        let (t, g) = parse(&["mcp", "tools"]);
        assert!(matches!(resolve(&t, &g, &no_env), Err(CliError::Usage(_))));
        let (t, g) = parse(&["mcp", "tools", "-H", "novalue", "http://127.0.0.1:9/"]);
        assert!(matches!(resolve(&t, &g, &no_env), Err(CliError::Usage(_))));
    }

    #[test]
    fn command_line_headers_replace_the_configs() {
        let dir = std::env::temp_dir().join(format!("mcp-cli-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("servers.json");
        std::fs::write(
            &path,
            r#"{"mcpServers": {"r": {"url": "http://127.0.0.1:9/mcp", "headers": {"X-A": "1", "X-B": "2"}}}}"#,
        )
        .unwrap();
        let cfg = path.to_str().unwrap();
        let (t, g) = parse(&["mcp", "tools", "r", "--config", cfg, "-H", "x-b: 3"]);
        let (spec, _) = resolve(&t, &g, &no_env).unwrap();
        let ServerSpec::Http { headers, .. } = spec else {
            panic!("not http")
        };
        assert_eq!(
            headers,
            [
                ("X-A".to_owned(), "1".to_owned()),
                ("x-b".into(), "3".into())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
