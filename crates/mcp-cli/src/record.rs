//! `mcp record`: a stdio pass-through that writes the session down, and `mcp replay`: a stdio mock server
//! that answers from such a recording.
//!
//! A recording is JSON lines, one per message, in the order `mcp record` saw them:
//!
//! ```text
//! {"dir":"c2s","t_ms":0,"msg":{"jsonrpc":"2.0","id":1,"method":"initialize","params":{...}}}
//! {"dir":"s2c","t_ms":4,"msg":{"jsonrpc":"2.0","id":1,"result":{...}}}
//! ```
//!
//! `dir` is `c2s` (client to server) or `s2c`; `t_ms` is milliseconds since the recording started. A line
//! that is not JSON is kept as `"raw"` instead of `"msg"`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::cli::Global;
use crate::error::CliError;

/// `mcp record`.
#[derive(Debug, Args, Clone)]
pub struct RecordArgs {
    /// Where to write the recording (JSON lines; replaced if it exists).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// The stdio server to run: `-- CMD ARGS...`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `mcp replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// A recording made by `mcp record`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// The recording being written: one line per message, flushed at once (a killed session keeps what it
/// had).
struct Recorder {
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    start: Instant,
}

impl Recorder {
    fn write(&self, dir: &str, line: &[u8]) -> std::io::Result<()> {
        let t_ms = self.start.elapsed().as_millis() as u64;
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        // A message is kept byte for byte (a JSON line has no line break to escape); anything else as a
        // JSON string.
        let entry = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => format!(r#"{{"dir":"{dir}","t_ms":{t_ms},"msg":{}}}"#, text.trim()),
            Err(_) => format!(
                r#"{{"dir":"{dir}","t_ms":{t_ms},"raw":{}}}"#,
                Value::from(text)
            ),
        };
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(out, "{entry}")?;
        out.flush()
    }
}

/// Copy `from` to `to` line by line, recording each line as `dir`. Returns at the end of `from`.
async fn pump(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    rec: Arc<Recorder>,
    dir: &'static str,
) -> Result<(), CliError> {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = from
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| CliError::Connect(format!("reading the {dir} stream: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            rec.write(dir, &line)
                .map_err(|e| CliError::Usage(format!("writing the recording: {e}")))?;
        }
        // The peer went away: nothing more to pass on in this direction.
        if to.write_all(&line).await.is_err() || to.flush().await.is_err() {
            return Ok(());
        }
    }
}

/// `mcp record -o FILE -- CMD...`.
pub async fn record(a: &RecordArgs, g: &Global) -> Result<(), CliError> {
    let (program, args) = a
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("record needs a command after --".into()))?;
    let file = std::fs::File::create(&a.output)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", a.output.display())))?;
    let rec = Arc::new(Recorder {
        out: Mutex::new(std::io::BufWriter::new(file)),
        start: Instant::now(),
    });
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for e in &g.env {
        let (k, v) = e
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("--env {e:?} should look like NAME=VALUE")))?;
        cmd.env(k, v);
    }
    let what = a.command.join(" ");
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::Connect(format!("cannot start {what}: {e}")))?;
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(CliError::Connect(format!("{what}: no pipes to the child")));
    };
    // Our stdin ending closes the child's (its signal to exit); the session ends when the child's stdout
    // does.
    let inbound = tokio::spawn(pump(tokio::io::stdin(), child_in, rec.clone(), "c2s"));
    let outbound = pump(child_out, tokio::io::stdout(), rec, "s2c").await;
    inbound.abort();
    outbound?;
    let status = child
        .wait()
        .await
        .map_err(|e| CliError::Connect(format!("{what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Connect(format!("{what} exited with {status}")))
    }
}

/// One request of the recording and what answered it.
struct Exchange {
    method: String,
    /// The params without `_meta` (which carries per-call values such as progress tokens).
    params: Value,
    /// The request's progress token, to recognise its progress notifications.
    progress_token: Option<Value>,
    /// Notifications about this request (progress) the server sent before answering.
    notes: Vec<Value>,
    /// The response (`result` or `error`).
    response: Value,
}

fn without_meta(params: Option<&Value>) -> Value {
    match params {
        Some(Value::Object(m)) => {
            let mut m: Map<String, Value> = m.clone();
            m.remove("_meta");
            Value::Object(m)
        }
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn progress_token(params: Option<&Value>) -> Option<Value> {
    params?.get("_meta")?.get("progressToken").cloned()
}

/// The requests of a recording, paired with their responses.
fn load(text: &str) -> Result<Vec<Exchange>, String> {
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<Value> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let Some(msg) = entry.get("msg") else {
            continue;
        };
        let dir = entry["dir"].as_str().unwrap_or_default();
        let id = msg
            .get("id")
            .filter(|id| !id.is_null())
            .map(Value::to_string);
        let method = msg.get("method").and_then(Value::as_str);
        match (dir, method, id) {
            ("c2s", Some(method), Some(id)) => {
                open.insert(id, pending.len());
                pending.push(json!({
                    "method": method,
                    "params": without_meta(msg.get("params")),
                    "progress": progress_token(msg.get("params")),
                    "notes": [],
                }));
            }
            ("s2c", None, Some(id)) => {
                if let Some(i) = open.remove(&id) {
                    let p = &pending[i];
                    let response = match msg.get("error") {
                        Some(e) => json!({"error": e}),
                        None => {
                            json!({"result": msg.get("result").cloned().unwrap_or(Value::Null)})
                        }
                    };
                    exchanges.push(Exchange {
                        method: p["method"].as_str().unwrap_or_default().to_owned(),
                        params: p["params"].clone(),
                        progress_token: Some(p["progress"].clone()).filter(|v| !v.is_null()),
                        notes: p["notes"].as_array().cloned().unwrap_or_default(),
                        response,
                    });
                }
            }
            ("s2c", Some(_), None) => {
                // A notification: progress belongs to the open request that asked for it.
                let token = msg.get("params").and_then(|p| p.get("progressToken"));
                if let Some(token) = token {
                    for i in open.values() {
                        let p = &mut pending[*i];
                        if p["progress"] == *token {
                            if let Some(notes) = p["notes"].as_array_mut() {
                                notes.push(msg.clone());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(exchanges)
}

/// Methods answered from the recording whatever their params: the handshake, whose params name the
/// client (its version, its capabilities) and do not change the server's answer.
const ANY_PARAMS: &[&str] = &["initialize", "server/discover", "ping"];

/// The recording as a server: for each request, the recorded response to the same method and params
/// (the k-th identical request gets the k-th recorded answer, the last one repeating).
struct Script {
    exchanges: Vec<Exchange>,
    used: HashMap<usize, usize>,
}

impl Script {
    fn answer(&mut self, msg: &Value) -> Vec<Value> {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = without_meta(msg.get("params"));
        let same_method: Vec<usize> = (0..self.exchanges.len())
            .filter(|i| self.exchanges[*i].method == method)
            .collect();
        let mut matching: Vec<usize> = same_method
            .iter()
            .copied()
            .filter(|i| self.exchanges[*i].params == params)
            .collect();
        if matching.is_empty() && ANY_PARAMS.contains(&method) {
            matching = same_method.clone();
        }
        if matching.is_empty() {
            let (code, message) = if same_method.is_empty() {
                (
                    -32601,
                    format!("mcp replay: the recording has no {method} request"),
                )
            } else {
                (
                    -32602,
                    format!(
                        "mcp replay: the recording has no {method} request with these params ({} with others)",
                        same_method.len()
                    ),
                )
            };
            let recorded: Vec<&Value> = same_method
                .iter()
                .map(|i| &self.exchanges[*i].params)
                .collect();
            return vec![json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": code, "message": message,
                "data": {"method": method, "params": params, "recorded": recorded}}})];
        }
        // The signature of this request: its method and params.
        let key = matching[0];
        let n = self.used.entry(key).or_insert(0);
        let pick = matching[(*n).min(matching.len() - 1)];
        *n += 1;
        let ex = &self.exchanges[pick];
        let token = progress_token(msg.get("params"));
        let mut out = Vec::new();
        // Progress is replayed only to a caller that asked for it, under the caller's token.
        if let (Some(token), Some(_)) = (&token, &ex.progress_token) {
            for note in &ex.notes {
                let mut note = note.clone();
                note["params"]["progressToken"] = token.clone();
                out.push(note);
            }
        }
        let mut resp = json!({"jsonrpc": "2.0", "id": id});
        if let (Some(r), Some(src)) = (resp.as_object_mut(), ex.response.as_object()) {
            r.extend(src.clone());
        }
        out.push(resp);
        out
    }
}

/// `mcp replay FILE`.
pub async fn replay(a: &ReplayArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", a.file.display())))?;
    let exchanges = load(&text)
        .map_err(|e| CliError::Usage(format!("{} is not a recording: {e}", a.file.display())))?;
    let mut script = Script {
        exchanges,
        used: HashMap::new(),
    };
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut stdout = tokio::io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| CliError::Connect(format!("reading stdin: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let replies = match serde_json::from_slice::<Value>(&line) {
            Ok(msg)
                if msg.get("method").is_some() && msg.get("id").is_some_and(|i| !i.is_null()) =>
            {
                script.answer(&msg)
            }
            // Notifications and the client's answers need no reply.
            Ok(_) => Vec::new(),
            Err(e) => vec![json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": format!("parse error: {e}")}})],
        };
        for r in replies {
            let mut bytes = serde_json::to_vec(&r).unwrap_or_default();
            bytes.push(b'\n');
            if stdout.write_all(&bytes).await.is_err() || stdout.flush().await.is_err() {
                // The client is gone.
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = r#"
{"dir":"c2s","t_ms":0,"msg":{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"clientInfo":{"name":"a"}}}}
{"dir":"s2c","t_ms":1,"msg":{"jsonrpc":"2.0","id":0,"result":{"serverInfo":{"name":"s"}}}}
{"dir":"c2s","t_ms":2,"msg":{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","_meta":{"progressToken":7}}}}
{"dir":"c2s","t_ms":2,"msg":{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fast"}}}
{"dir":"s2c","t_ms":3,"msg":{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"fast"}]}}}
{"dir":"s2c","t_ms":4,"msg":{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}}
{"dir":"s2c","t_ms":5,"msg":{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"slow failed"}}}
not json
"#;

    fn script() -> Script {
        let text: String = REC
            .lines()
            .filter(|l| *l != "not json")
            .collect::<Vec<_>>()
            .join("\n");
        Script {
            exchanges: load(&text).unwrap(),
            used: HashMap::new(),
        }
    }

    #[test]
    fn answers_by_method_and_params_with_the_callers_id() {
        let mut s = script();
        let r = s.answer(&json!({"jsonrpc":"2.0","id":"x","method":"initialize","params":{"clientInfo":{"name":"b"}}}));
        assert_eq!(
            r,
            [json!({"jsonrpc":"2.0","id":"x","result":{"serverInfo":{"name":"s"}}})]
        );
        let r = s.answer(
            &json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fast"}}),
        );
        assert_eq!(r[0]["id"], 9);
        assert_eq!(r[0]["result"]["content"][0]["text"], "fast");
        // Interleaved answers are paired by id; progress is replayed under the caller's token.
        let r = s.answer(&json!({"jsonrpc":"2.0","id":10,"method":"tools/call",
            "params":{"name":"slow","_meta":{"progressToken":"p"}}}));
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0]["params"]["progressToken"], "p");
        assert_eq!(
            r[1],
            json!({"jsonrpc":"2.0","id":10,"error":{"code":-1,"message":"slow failed"}})
        );
    }

    #[test]
    fn requests_not_in_the_recording_get_a_clear_error() {
        let mut s = script();
        let r = s.answer(
            &json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"other"}}),
        );
        assert_eq!(r[0]["error"]["code"], -32602);
        assert!(r[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no tools/call request with these params"));
        assert_eq!(
            r[0]["error"]["data"]["recorded"].as_array().unwrap().len(),
            2
        );
        let r = s.answer(&json!({"jsonrpc":"2.0","id":4,"method":"resources/list"}));
        assert_eq!(r[0]["error"]["code"], -32601);
        assert_eq!(r[0]["id"], 4);
    }

    #[test]
    fn a_broken_recording_is_refused() {
        let err = load(REC).err().unwrap_or_default();
        assert!(err.starts_with("line 9"), "{err}");
    }
}
