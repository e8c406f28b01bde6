//! Each command: connect, ask, print.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use mcp_client::{CallOptions, Client};
use mcp_protocol::types::{
    CompleteParams, CompletionArgument, CompletionContext, CompletionReference,
};
use mcp_protocol::Era;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::args;
use crate::cli::{CallArgs, Cli, Command, CompleteArgs, Global};
use crate::elicit::Elicitor;
use crate::error::CliError;
use crate::output::{self, first_line, schema_summary};
use crate::sample::Sampler;
use crate::target::{self, Connection};

pub(crate) fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let global = cli.global;
    let elicitor = Elicitor::new(&global.answers, global.no_input)?;
    let sampler = Sampler::new(global.sample_reply.as_deref(), elicitor.interactive());
    let target = match &cli.command {
        Command::Shell(t) => t.clone(),
        Command::Login(a) => return crate::auth::login(a, &global).await,
        Command::Logout(a) => return crate::auth::logout(a, &global).await,
        Command::Auth(a) => return crate::auth::auth(a, &global).await,
        Command::Record(a) => return crate::record::record(a, &global).await,
        Command::Replay(a) => return crate::record::replay(a).await,
        Command::Bridge(b) => return crate::bridge::run(b, &global).await,
        Command::Serve(s) => return crate::serve::run(s, &global).await,
        Command::Bench(b) => return crate::bench::run(b, &global).await,
        other => other
            .session_target()
            .cloned()
            .ok_or_else(|| CliError::Usage(format!("{other:?} takes no server")))?,
    };
    let (spec, words) = target::resolve(&target, &global, &env_var)?;
    check_words(&cli.command, &words)?;
    let conn = target::connect(&spec, &global, elicitor, sampler).await?;
    let r = match &cli.command {
        Command::Shell(_) => crate::shell::run(&conn, &global).await,
        _ => dispatch(&cli.command, &conn, &words, &global).await,
    };
    conn.client.close().await;
    r
}

/// Usage errors in the command's own words are reported before connecting (and in `mcp shell`, before
/// running a line).
pub(crate) fn check_words(cmd: &Command, words: &[String]) -> Result<(), CliError> {
    let (min, max, usage) = match cmd {
        Command::Info(_)
        | Command::Tools(_)
        | Command::Resources(_)
        | Command::Templates(_)
        | Command::Prompts(_)
        | Command::Ping(_)
        | Command::Shell(_) => (0, 0, "takes no arguments after the server"),
        Command::Call(_) => (
            1,
            usize::MAX,
            "needs a tool name: mcp call SERVER TOOL [k=v ...]",
        ),
        Command::Read(_) => (1, 1, "needs one URI: mcp read SERVER URI"),
        Command::Prompt(_) => (
            1,
            usize::MAX,
            "needs a prompt name: mcp prompt SERVER NAME [k=v ...]",
        ),
        Command::Complete(_) => (
            1,
            2,
            "needs an argument name: mcp complete SERVER --prompt NAME ARG [VALUE]",
        ),
        // Run before a server is resolved (see `run`).
        Command::Login(_)
        | Command::Logout(_)
        | Command::Auth(_)
        | Command::Record(_)
        | Command::Replay(_)
        | Command::Bridge(_)
        | Command::Serve(_)
        | Command::Bench(_) => return Ok(()),
    };
    if words.len() < min || words.len() > max {
        let extra = if words.len() > max {
            format!(" (unexpected {:?})", words[max])
        } else {
            String::new()
        };
        return Err(CliError::Usage(format!("this command {usage}{extra}")));
    }
    if let Command::Complete(c) = cmd {
        if c.prompt.is_none() && c.resource.is_none() {
            return Err(CliError::Usage(
                "complete needs --prompt NAME or --resource URI".into(),
            ));
        }
    }
    Ok(())
}

/// Run a command on an open session: a one-shot command, or a line of `mcp shell`.
pub(crate) async fn dispatch(
    cmd: &Command,
    conn: &Connection,
    words: &[String],
    g: &Global,
) -> Result<(), CliError> {
    let client = &conn.client;
    let ce = CliError::from_client;
    match cmd {
        Command::Info(_) => info(conn, g),
        Command::Tools(_) => {
            let tools = client.list_all_tools().await.map_err(ce)?;
            if g.json {
                return output::json(&json!({ "tools": tools }));
            }
            let rows = tools
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        first_line(t.description.as_deref()),
                        schema_summary(&t.input_schema),
                    ]
                })
                .collect();
            output::table(&["NAME", "DESCRIPTION", "ARGUMENTS (* required)"], rows);
            Ok(())
        }
        Command::Resources(_) => {
            let items = client.list_all_resources().await.map_err(ce)?;
            if g.json {
                return output::json(&json!({ "resources": items }));
            }
            let rows = items
                .iter()
                .map(|r| {
                    vec![
                        r.uri.clone(),
                        r.name.clone(),
                        r.mime_type.clone().unwrap_or_default(),
                        first_line(r.description.as_deref()),
                    ]
                })
                .collect();
            output::table(&["URI", "NAME", "MIME TYPE", "DESCRIPTION"], rows);
            Ok(())
        }
        Command::Templates(_) => {
            let items = client.list_all_resource_templates().await.map_err(ce)?;
            if g.json {
                return output::json(&json!({ "resourceTemplates": items }));
            }
            let rows = items
                .iter()
                .map(|r| {
                    vec![
                        r.uri_template.clone(),
                        r.name.clone(),
                        r.mime_type.clone().unwrap_or_default(),
                        first_line(r.description.as_deref()),
                    ]
                })
                .collect();
            output::table(&["URI TEMPLATE", "NAME", "MIME TYPE", "DESCRIPTION"], rows);
            Ok(())
        }
        Command::Prompts(_) => {
            let items = client.list_all_prompts().await.map_err(ce)?;
            if g.json {
                return output::json(&json!({ "prompts": items }));
            }
            let rows = items
                .iter()
                .map(|p| {
                    let args = p
                        .arguments
                        .iter()
                        .flatten()
                        .map(|a| {
                            format!(
                                "{}{}",
                                a.name,
                                if a.required == Some(true) { "*" } else { "" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![p.name.clone(), first_line(p.description.as_deref()), args]
                })
                .collect();
            output::table(&["NAME", "DESCRIPTION", "ARGUMENTS (* required)"], rows);
            Ok(())
        }
        Command::Call(c) => call(client, c, words, g).await,
        Command::Read(_) => {
            let r = client.read_resource(&words[0]).await.map_err(ce)?;
            if g.json {
                return output::json(&r);
            }
            let v = serde_json::to_value(&r).unwrap_or_default();
            for c in v["contents"].as_array().into_iter().flatten() {
                out!("{}", output::resource_contents(c));
            }
            Ok(())
        }
        Command::Prompt(_) => {
            let mut a = BTreeMap::new();
            for w in &words[1..] {
                let (k, v) = w
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| {
                        CliError::Usage(format!("prompt argument {w:?} should be NAME=VALUE"))
                    })?;
                a.insert(k.to_owned(), v.to_owned());
            }
            let r = client
                .get_prompt(&words[0], (!a.is_empty()).then_some(a))
                .await
                .map_err(ce)?;
            if g.json {
                return output::json(&r);
            }
            let v = serde_json::to_value(&r).unwrap_or_default();
            for m in v["messages"].as_array().into_iter().flatten() {
                out!(
                    "[{}] {}",
                    m["role"].as_str().unwrap_or("?"),
                    output::content_block(&m["content"])
                );
            }
            Ok(())
        }
        Command::Complete(c) => complete(client, c, words, g).await,
        // Run before a server is resolved (see `run`).
        Command::Login(_)
        | Command::Logout(_)
        | Command::Auth(_)
        | Command::Record(_)
        | Command::Replay(_)
        | Command::Bridge(_)
        | Command::Serve(_)
        | Command::Shell(_)
        | Command::Bench(_) => Ok(()),
        Command::Ping(_) => {
            let start = Instant::now();
            match client.era() {
                Era::Legacy => client.ping().await.map_err(ce)?,
                // 2026-07-28 has no ping: an uncached discovery is the round trip.
                _ => client
                    .request("server/discover", None)
                    .await
                    .map(drop)
                    .map_err(ce)?,
            }
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if g.json {
                return output::json(&json!({"ok": true, "ms": ms}));
            }
            out!("ok ({ms:.1} ms)");
            Ok(())
        }
    }
}

fn era_name(e: Era) -> &'static str {
    match e {
        Era::Legacy => "legacy",
        _ => "modern",
    }
}

fn info(conn: &Connection, g: &Global) -> Result<(), CliError> {
    let c = &conn.client;
    let caps = serde_json::to_value(c.server_capabilities()).unwrap_or_default();
    let v = json!({
        "serverInfo": c.server_info(),
        "era": era_name(c.era()),
        "protocolVersion": c.protocol_version().as_str(),
        "transport": conn.transport,
        "sessionId": c.session_id(),
        "capabilities": caps,
        "instructions": c.instructions(),
    });
    if g.json {
        return output::json(&v);
    }
    let server = c
        .server_info()
        .map(|i| format!("{} {}", i.name, i.version))
        .unwrap_or_else(|| "(unnamed)".into());
    let caps_line = caps
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let flags: Vec<&str> = v
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .filter(|(_, f)| f.as_bool() == Some(true))
                                .map(|(f, _)| f.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    if flags.is_empty() {
                        k.clone()
                    } else {
                        format!("{k} ({})", flags.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    out!("server        {server}");
    out!("era           {}", era_name(c.era()));
    out!("protocol      {}", c.protocol_version().as_str());
    out!("transport     {}", conn.transport);
    if let Some(s) = c.session_id() {
        out!("session       {s}");
    }
    out!("capabilities  {caps_line}");
    if let Some(i) = c.instructions() {
        out!("instructions  {}", i.trim());
    }
    Ok(())
}

/// The arguments of a call to tool `name` from the command's words, typed by the tool's inputSchema (`mcp call`
/// and `mcp bench`). A tool the server does not list is a usage error naming the ones it has; a server that
/// cannot list its tools is called untyped.
pub(crate) async fn tool_arguments(
    client: &Client,
    name: &str,
    words: &[String],
    raw: bool,
) -> Result<Value, CliError> {
    let schema = match client.list_all_tools().await {
        Ok(tools) => match tools.iter().find(|t| t.name == name) {
            Some(t) => Some(t.input_schema.clone()),
            None => {
                let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                names.sort_unstable();
                let more = names.len() > 12;
                names.truncate(12);
                return Err(CliError::Usage(format!(
                    "unknown tool {name:?}; the server has: {}{}",
                    names.join(", "),
                    if more { ", ..." } else { "" }
                )));
            }
        },
        Err(e) if e.rpc_error().is_some() => None,
        Err(e) => return Err(CliError::from_client(e)),
    };
    let arguments = args::build(words, schema.as_ref(), raw, &mut std::io::stdin())?;
    Ok(Value::Object(arguments))
}

async fn call(client: &Client, c: &CallArgs, words: &[String], g: &Global) -> Result<(), CliError> {
    let name = &words[0];
    let arguments = tool_arguments(client, name, &words[1..], c.raw).await?;
    let mut opts = CallOptions::default();
    let bar = std::io::stderr().is_terminal().then(|| {
        let (tx, rx) = mpsc::channel(64);
        opts = CallOptions::default().progress(tx);
        tokio::spawn(drive_bar(rx))
    });
    let r = client.call_tool_with(name, arguments, opts).await;
    if let Some(b) = bar {
        // The sender is gone with the call's options: the bar's task ends and clears itself.
        let _ = b.await;
    }
    let r = r.map_err(CliError::from_client)?;
    if g.json {
        output::json(&r)?;
    } else {
        let v = serde_json::to_value(&r).unwrap_or_default();
        let blocks = v["content"].as_array().cloned().unwrap_or_default();
        for b in &blocks {
            let text = output::content_block(b);
            if r.is_error() {
                eprintln!("{text}");
            } else {
                out!("{text}");
            }
        }
        if let (Some(sc), false) = (&r.structured_content, r.is_error()) {
            // Shown when the text content does not already carry it.
            if blocks.is_empty() {
                out!("{}", serde_json::to_string_pretty(sc).unwrap_or_default());
            }
        }
    }
    if r.is_error() {
        return Err(CliError::Tool(format!(
            "tool {name} returned an error{}",
            if g.json {
                String::new()
            } else {
                String::from(" (above)")
            }
        )));
    }
    Ok(())
}

async fn drive_bar(mut rx: mpsc::Receiver<mcp_protocol::types::ProgressParams>) {
    let mut bar: Option<ProgressBar> = None;
    while let Some(p) = rx.recv().await {
        let b = bar.get_or_insert_with(|| {
            let b = match p.total {
                Some(_) => ProgressBar::new(1000),
                None => ProgressBar::new_spinner(),
            };
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {msg}")
            {
                b.set_style(style.progress_chars("=> "));
            }
            b
        });
        if let Some(total) = p.total.filter(|t| *t > 0.0) {
            b.set_position(((p.progress / total).clamp(0.0, 1.0) * 1000.0) as u64);
        } else {
            b.tick();
        }
        if let Some(m) = &p.message {
            b.set_message(m.clone());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

async fn complete(
    client: &Client,
    c: &CompleteArgs,
    words: &[String],
    g: &Global,
) -> Result<(), CliError> {
    let reference = match (&c.prompt, &c.resource) {
        (Some(name), _) => CompletionReference::Prompt {
            name: name.clone(),
            title: None,
        },
        (None, Some(uri)) => CompletionReference::Resource { uri: uri.clone() },
        (None, None) => {
            return Err(CliError::Usage(
                "complete needs --prompt NAME or --resource URI".into(),
            ))
        }
    };
    let mut ctx = BTreeMap::new();
    for w in &c.context {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--context {w:?} should be NAME=VALUE")))?;
        ctx.insert(k.to_owned(), v.to_owned());
    }
    let params = CompleteParams {
        reference,
        argument: CompletionArgument {
            name: words[0].clone(),
            value: words.get(1).cloned().unwrap_or_default(),
        },
        context: (!ctx.is_empty()).then_some(CompletionContext {
            arguments: Some(ctx),
        }),
        meta: None,
    };
    let r = client
        .complete(params)
        .await
        .map_err(CliError::from_client)?;
    if g.json {
        return output::json(&r);
    }
    for v in &r.completion.values {
        out!("{v}");
    }
    Ok(())
}
