//! `mcp shell TARGET`: one session, many commands. Each line is parsed and run as the one-shot command of
//! the same name (the same functions, the same argument typing), on the open session.
//!
//! At a terminal the line editor keeps a history (in the user's config folder) and completes command words,
//! tool, prompt and resource names, and a tool's or prompt's argument names. Lines piped in are read
//! plainly, so scripts can drive a session. A failing line prints one error line; the shell goes on.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use mcp_client::{Client, ClientEvent};
use mcp_protocol::types::SubscriptionFilter;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::cli::{Command, Global};
use crate::commands;
use crate::error::CliError;
use crate::target::Connection;

/// The shell's own words, and the commands it runs on the session, for completion and `help`.
const COMMANDS: [(&str, &str); 13] = [
    ("tools", "list the tools"),
    ("resources", "list the resources"),
    ("templates", "list the resource templates"),
    ("prompts", "list the prompts"),
    ("info", "server, era, protocol, capabilities"),
    ("call", "call TOOL k=v k:=JSON @FILE [--raw]"),
    ("read", "read URI"),
    ("prompt", "prompt NAME k=v"),
    (
        "complete",
        "complete (--prompt NAME | --resource URI) ARG [VALUE]",
    ),
    ("ping", "check that the server answers"),
    (
        "help",
        "this list (COMMAND --help for one command's options)",
    ),
    ("exit", "leave (also quit, or Ctrl-D)"),
    ("quit", "leave"),
];

/// What the completer knows about the server: refreshed at the start and when the server says a list
/// changed.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Tool names and their input schemas.
    pub tools: Vec<(String, Value)>,
    /// Prompt names and their argument names.
    pub prompts: Vec<(String, Vec<String>)>,
    /// Resource URIs.
    pub resources: Vec<String>,
    /// Resource template URIs (RFC 6570), e.g. `users://{id}/profile`.
    pub templates: Vec<String>,
}

/// A line of the shell, parsed with the one-shot commands' own definitions.
#[derive(Debug, Parser)]
#[command(
    name = "",
    no_binary_name = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
struct Line {
    #[command(subcommand)]
    command: Command,
}

/// Run the shell on `conn` until `exit`, Ctrl-D or the end of the piped input.
pub async fn run(conn: &Connection, g: &Global) -> Result<(), CliError> {
    if g.json {
        crate::output::json_lines();
    }
    let catalog = Arc::new(Mutex::new(Catalog::default()));
    let closed = Arc::new(AtomicBool::new(false));
    refresh(&conn.client, &catalog, Lists::all()).await;
    let watcher = tokio::spawn(watch(conn.client.clone(), catalog.clone(), closed.clone()));
    let r = if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        interactive(conn, g, catalog, &closed).await
    } else {
        piped(conn, g, &closed).await
    };
    watcher.abort();
    r
}

/// What a line asks of the loop.
enum Flow {
    Continue,
    Exit,
}

/// Run one line. `Ok(Exit)` ends the shell; an error is reported by the caller and the shell goes on.
async fn run_line(conn: &Connection, g: &Global, text: &str) -> Result<Flow, CliError> {
    let words = shlex::split(text)
        .ok_or_else(|| CliError::Usage("unbalanced quotes in the line".into()))?;
    let Some(first) = words.first() else {
        return Ok(Flow::Continue);
    };
    match first.as_str() {
        "exit" | "quit" => return Ok(Flow::Exit),
        "help" | "?" if words.len() == 1 => {
            print_help();
            return Ok(Flow::Continue);
        }
        _ => {}
    }
    if words.iter().any(|w| w == "@-") {
        return Err(CliError::Usage(
            "@- reads stdin, which the shell is reading; put the arguments in a file and give @FILE".into(),
        ));
    }
    let line = match Line::try_parse_from(&words) {
        Ok(l) => l,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp) {
                out!("{}", e.render());
                return Ok(Flow::Continue);
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("usage error");
            let msg = first.strip_prefix("error: ").unwrap_or(first);
            return Err(CliError::Usage(format!("{msg} (type help)")));
        }
    };
    let Some(target) = line.command.session_target() else {
        return Err(CliError::Usage(format!(
            "{first} is not a shell command (type help)"
        )));
    };
    if !target.command.is_empty() {
        return Err(CliError::Usage(
            "the shell already has its server: no `--` in a line".into(),
        ));
    }
    commands::check_words(&line.command, &target.words)?;
    commands::dispatch(&line.command, conn, &target.words, g).await?;
    Ok(Flow::Continue)
}

/// Report a line's failure; a closed connection ends the shell with it.
fn failed(e: CliError, g: &Global, closed: &AtomicBool) -> Result<(), CliError> {
    if closed.load(Ordering::Relaxed) && matches!(e, CliError::Connect(_)) {
        return Err(e);
    }
    crate::report(&e, g.json);
    Ok(())
}

/// Lines from a pipe or a file: no prompt, no editing.
async fn piped(conn: &Connection, g: &Global, closed: &AtomicBool) -> Result<(), CliError> {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let text = match lines.next_line().await {
            Ok(Some(t)) => t,
            Ok(None) => return Ok(()),
            Err(e) => return Err(CliError::Usage(format!("cannot read stdin: {e}"))),
        };
        match run_line(conn, g, &text).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => return Ok(()),
            Err(e) => failed(e, g, closed)?,
        }
    }
}

type ShellEditor = Editor<ShellHelper, DefaultHistory>;

/// At a terminal: the line editor, history and completion.
async fn interactive(
    conn: &Connection,
    g: &Global,
    catalog: Arc<Mutex<Catalog>>,
    closed: &AtomicBool,
) -> Result<(), CliError> {
    let config = Config::builder()
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| b.build())
        .unwrap_or_default();
    let mut editor: ShellEditor = Editor::with_config(config)
        .map_err(|e| CliError::Usage(format!("cannot use the terminal: {e}")))?;
    editor.set_helper(Some(ShellHelper { catalog }));
    let history = history_file();
    if let Some(path) = &history {
        // A first run has no file yet.
        let _ = editor.load_history(path);
    }
    let c = &conn.client;
    let server = c
        .server_info()
        .map(|i| format!("{} {}", i.name, i.version))
        .unwrap_or_else(|| "the server".into());
    eprintln!(
        "Connected to {server} ({}, {}). Type help for the commands, Ctrl-D to leave.",
        c.protocol_version().as_str(),
        conn.transport
    );
    loop {
        // The editor blocks on the terminal: off the async thread, so the session keeps answering the
        // server (pings, notifications) while the user types.
        let (back, read) = tokio::task::spawn_blocking(move || {
            let r = editor.readline("mcp> ");
            (editor, r)
        })
        .await
        .map_err(|e| CliError::Usage(format!("the line editor failed: {e}")))?;
        editor = back;
        let text = match read {
            Ok(t) => t,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::Usage(format!("cannot read the terminal: {e}"))),
        };
        // Kept as run, without the space a completion leaves at the end.
        if editor.add_history_entry(text.trim_end()).unwrap_or(false) {
            if let Some(path) = &history {
                save_history(&mut editor, path);
            }
        }
        let flow = tokio::select! {
            r = run_line(conn, g, &text) => r,
            // Ctrl-C while a command runs abandons it, not the shell.
            _ = tokio::signal::ctrl_c() => Err(CliError::Usage("interrupted".into())),
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => break,
            Err(e) => failed(e, g, closed)?,
        }
    }
    Ok(())
}

/// `<config folder>/shell_history` (the folder of the sign-ins; `MCP_CONFIG_DIR` moves it).
fn history_file() -> Option<PathBuf> {
    crate::tokens::config_dir().map(|d| d.join("shell_history"))
}

fn save_history(editor: &mut ShellEditor, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        let _ = b.create(dir);
    }
    // Appended line by line: several shells share the file, and a killed shell keeps what it had.
    if let Err(e) = editor.append_history(path) {
        tracing::debug!("cannot save the shell history to {}: {e}", path.display());
    }
}

fn print_help() {
    out!("Commands (on the open session):");
    for (word, what) in COMMANDS {
        out!("  {word:<10} {what}");
    }
    out!("Words are split as a shell does: quote a value with spaces (message=\"hello there\").");
}

/// Which lists to (re)load.
#[derive(Clone, Copy)]
struct Lists {
    tools: bool,
    prompts: bool,
    resources: bool,
}

impl Lists {
    fn all() -> Self {
        Self {
            tools: true,
            prompts: true,
            resources: true,
        }
    }

    fn changed(method: &str) -> Option<Self> {
        let none = Self {
            tools: false,
            prompts: false,
            resources: false,
        };
        match method {
            "notifications/tools/list_changed" => Some(Self {
                tools: true,
                ..none
            }),
            "notifications/prompts/list_changed" => Some(Self {
                prompts: true,
                ..none
            }),
            "notifications/resources/list_changed" => Some(Self {
                resources: true,
                ..none
            }),
            _ => None,
        }
    }
}

/// Load the lists the server has into the catalog; a list the server cannot give stays as it was.
async fn refresh(client: &Client, catalog: &Mutex<Catalog>, which: Lists) {
    let caps = client.server_capabilities();
    if which.tools && caps.tools.is_some() {
        if let Ok(tools) = client.list_all_tools().await {
            let tools = tools
                .into_iter()
                .map(|t| (t.name, t.input_schema))
                .collect();
            lock(catalog).tools = tools;
        }
    }
    if which.prompts && caps.prompts.is_some() {
        if let Ok(prompts) = client.list_all_prompts().await {
            let prompts = prompts
                .into_iter()
                .map(|p| {
                    let args = p.arguments.into_iter().flatten().map(|a| a.name).collect();
                    (p.name, args)
                })
                .collect();
            lock(catalog).prompts = prompts;
        }
    }
    if which.resources && caps.resources.is_some() {
        if let Ok(resources) = client.list_all_resources().await {
            lock(catalog).resources = resources.into_iter().map(|r| r.uri).collect();
        }
        // Templates have no list-changed notification of their own: they go with the resources'.
        if let Ok(templates) = client.list_all_resource_templates().await {
            lock(catalog).templates = templates.into_iter().map(|t| t.uri_template).collect();
        }
    }
}

fn lock(catalog: &Mutex<Catalog>) -> std::sync::MutexGuard<'_, Catalog> {
    catalog.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keep the catalog current: a legacy server pushes its list changes; a 2026-07-28 server sends them on a
/// `subscriptions/listen` stream. Also notes when the connection closes.
async fn watch(client: Client, catalog: Arc<Mutex<Catalog>>, closed: Arc<AtomicBool>) {
    let mut events = client.events();
    let filter = SubscriptionFilter {
        tools_list_changed: Some(true),
        prompts_list_changed: Some(true),
        resources_list_changed: Some(true),
        ..Default::default()
    };
    let mut listen = match client.era() {
        mcp_protocol::Era::Legacy => None,
        _ => client.listen(filter).await.ok(),
    };
    loop {
        let method = tokio::select! {
            e = events.recv() => match e {
                Ok(ClientEvent::Notification(n)) => n.method,
                Ok(ClientEvent::Closed { .. }) => {
                    closed.store(true, Ordering::Relaxed);
                    return;
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    refresh(&client, &catalog, Lists::all()).await;
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            n = async { listen.as_mut()?.next().await }, if listen.is_some() => match n {
                Some(n) => n.method,
                None => {
                    listen = None;
                    continue;
                }
            },
        };
        if let Some(which) = Lists::changed(&method) {
            refresh(&client, &catalog, which).await;
        }
    }
}

/// The line editor's completion over the catalog.
struct ShellHelper {
    catalog: Arc<Mutex<Catalog>>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(completions(&lock(&self.catalog), &line[..pos]))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

fn pair(display: &str, replacement: String) -> Pair {
    Pair {
        display: display.to_owned(),
        replacement,
    }
}

/// The candidates for the word that ends `before` (the line up to the cursor), and where that word starts.
/// A name that completes a word is followed by a space; an argument name by `=`.
pub fn completions(catalog: &Catalog, before: &str) -> (usize, Vec<Pair>) {
    let start = before
        .rfind(char::is_whitespace)
        .map(|i| i + 1)
        .unwrap_or(0);
    let partial = &before[start..];
    let done: Vec<&str> = before[..start].split_whitespace().collect();
    let names = |all: &mut dyn Iterator<Item = &str>| -> Vec<Pair> {
        let mut v: Vec<Pair> = all
            .filter(|n| n.starts_with(partial))
            .map(|n| pair(n, format!("{n} ")))
            .collect();
        v.sort_by(|a, b| a.display.cmp(&b.display));
        v.dedup_by(|a, b| a.display == b.display);
        v
    };
    let args = |all: &[String]| -> Vec<Pair> {
        // An argument already on the line is not offered again.
        let given: Vec<&str> = done[2..]
            .iter()
            .filter_map(|w| w.split_once('=').map(|(k, _)| k.trim_end_matches(':')))
            .collect();
        all.iter()
            .filter(|a| a.starts_with(partial) && !given.contains(&a.as_str()))
            .map(|a| pair(a, format!("{a}=")))
            .collect()
    };
    let candidates = match done.as_slice() {
        [] => names(&mut COMMANDS.iter().map(|(w, _)| *w)),
        ["help"] => names(&mut COMMANDS.iter().map(|(w, _)| *w)),
        ["call"] => names(&mut catalog.tools.iter().map(|(n, _)| n.as_str())),
        ["prompt"] => names(&mut catalog.prompts.iter().map(|(n, _)| n.as_str())),
        ["read"] => {
            let mut v = names(&mut catalog.resources.iter().map(String::as_str));
            v.extend(template_prefixes(&catalog.templates, partial));
            v
        }
        ["call", tool, ..] if !partial.contains('=') => {
            let props: Vec<String> = catalog
                .tools
                .iter()
                .find(|(n, _)| n == tool)
                .and_then(|(_, s)| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            args(&props)
        }
        ["prompt", name, ..] if !partial.contains('=') => catalog
            .prompts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| args(a))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    (start, candidates)
}

/// For `read`: each template whose fixed part (up to its first `{`) extends `partial` offers that part,
/// shown as the whole template and with no space after it, so the user types the variable part next.
fn template_prefixes(templates: &[String], partial: &str) -> Vec<Pair> {
    let mut v: Vec<Pair> = templates
        .iter()
        .filter_map(|t| {
            let fixed = &t[..t.find('{').unwrap_or(t.len())];
            (!fixed.is_empty() && fixed.starts_with(partial) && fixed != partial)
                .then(|| pair(t, fixed.to_owned()))
        })
        .collect();
    v.sort_by(|a, b| a.display.cmp(&b.display));
    v.dedup_by(|a, b| a.replacement == b.replacement);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog {
            tools: vec![
                ("test_simple_text".into(), json!({"type": "object"})),
                ("test_simple_image".into(), json!({"type": "object"})),
                (
                    "test_tool_with_logging".into(),
                    json!({"type": "object", "properties": {
                        "alpha": {"type": "string"}, "amount": {"type": "integer"}, "beta": {"type": "boolean"}
                    }}),
                ),
            ],
            prompts: vec![(
                "test_prompt_with_arguments".into(),
                vec!["arg1".into(), "arg2".into()],
            )],
            resources: vec!["test://static-text".into(), "test://static-binary".into()],
            templates: vec![
                "test://template/{id}/data".into(),
                "users://{id}".into(),
                "users://{id}/posts/{post}".into(),
                "{+path}".into(),
            ],
        }
    }

    fn shown(before: &str) -> (usize, Vec<String>) {
        let (start, c) = completions(&catalog(), before);
        (start, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn the_command_word_completes() {
        assert_eq!(shown("ca"), (0, vec!["call ".to_owned()]));
        assert_eq!(
            shown("pro").1,
            ["prompt ", "prompts "].map(String::from).to_vec()
        );
        assert!(shown("").1.len() == COMMANDS.len());
        assert!(shown("zz").1.is_empty());
    }

    #[test]
    fn tool_names_complete_after_call() {
        assert_eq!(
            shown("call test_s"),
            (
                5,
                vec!["test_simple_image ".into(), "test_simple_text ".into()]
            )
        );
        assert_eq!(
            shown("call test_simple_te").1,
            ["test_simple_text "].map(String::from).to_vec()
        );
        assert_eq!(
            shown("read test://static-t").1,
            ["test://static-text "].map(String::from).to_vec()
        );
        assert_eq!(
            shown("prompt test_").1,
            ["test_prompt_with_arguments "].map(String::from).to_vec()
        );
    }

    #[test]
    fn read_offers_the_fixed_part_of_templates_after_the_resources() {
        assert_eq!(
            shown("read test://"),
            (
                5,
                [
                    "test://static-binary ",
                    "test://static-text ",
                    "test://template/"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        // Shown whole, completed to the first variable (no space: the value comes next), once per prefix.
        let (_, c) = completions(&catalog(), "read us");
        let c: Vec<(String, String)> = c.into_iter().map(|p| (p.display, p.replacement)).collect();
        assert_eq!(c, vec![("users://{id}".into(), "users://".into())]);
        // Typed up to the variable: nothing more to offer; a template that starts with one offers nothing.
        assert!(shown("read users://").1.is_empty());
        assert!(shown("read {").1.is_empty());
    }

    #[test]
    fn argument_names_come_from_the_schema_without_those_given() {
        assert_eq!(
            shown("call test_tool_with_logging a"),
            (28, vec!["alpha=".into(), "amount=".into()])
        );
        assert_eq!(
            shown("call test_tool_with_logging alpha=x a").1,
            ["amount="].map(String::from).to_vec()
        );
        assert_eq!(
            shown("call test_tool_with_logging amount:=3 ").1,
            ["alpha=", "beta="].map(String::from).to_vec()
        );
        // A value is not an argument name; an unknown tool has none.
        assert!(shown("call test_tool_with_logging alpha=").1.is_empty());
        assert!(shown("call nope a").1.is_empty());
        assert_eq!(
            shown("prompt test_prompt_with_arguments arg1=x ").1,
            ["arg2="].map(String::from).to_vec()
        );
    }
}
