//! Answering a server's sampling requests (`sampling/createMessage`): the person at the terminal plays the
//! model, or `--sample-reply TEXT` answers every request. Without either, sampling is not offered to the
//! server at all, so that a server with another way to do its work takes it.

use std::io::{BufRead, Write};
use std::sync::Arc;

use mcp_protocol::types::{CreateMessageParams, CreateMessageResult, SamplingContent};
use mcp_protocol::ErrorObject;

use crate::error::one_line;
use crate::output;

/// The JSON-RPC error a client returns when its user rejects a sampling request (the code the spec's
/// sampling page gives).
const USER_REJECTED: i64 = -1;

/// Answers sampling requests for one run.
#[derive(Clone)]
pub struct Sampler {
    /// `--sample-reply`: the answer to every request. Otherwise the terminal is asked.
    reply: Option<Arc<str>>,
}

impl Sampler {
    /// From `--sample-reply` and whether the terminal may be asked (`interactive`: stdin and stderr are
    /// terminals and `--no-input` was not given). `None` when no request could be answered: the client then
    /// does not declare the sampling capability.
    pub fn new(reply: Option<&str>, interactive: bool) -> Option<Self> {
        match reply {
            Some(r) => Some(Self {
                reply: Some(r.into()),
            }),
            None if interactive => Some(Self { reply: None }),
            None => None,
        }
    }

    /// The answer to one request.
    pub fn answer(
        &self,
        params: CreateMessageParams,
    ) -> impl std::future::Future<Output = Result<CreateMessageResult, ErrorObject>> + Send + 'static
    {
        let reply = self.reply.clone();
        async move {
            if let Some(text) = reply {
                return Ok(result("mcp-cli --sample-reply", &text));
            }
            // The terminal prompt blocks on stdin: off the async threads.
            let asked = tokio::task::spawn_blocking(move || {
                let stdin = std::io::stdin();
                ask(&params, &mut stdin.lock(), &mut std::io::stderr())
            })
            .await
            .map_err(|e| ErrorObject::internal(e.to_string()))?;
            match asked {
                Some(text) => Ok(result("human", &text)),
                None => Err(rejected()),
            }
        }
    }
}

/// The rejection a server gets when nothing was typed.
fn rejected() -> ErrorObject {
    ErrorObject::new(USER_REJECTED, "User rejected sampling request")
}

fn result(model: &str, text: &str) -> CreateMessageResult {
    let mut r = CreateMessageResult::new(model, SamplingContent::text(text));
    r.stop_reason = Some("endTurn".into());
    r
}

/// Show the request on `term` and read the reply from `input`: lines up to an empty line or the end of
/// input. Nothing typed (an empty first line, or the end of input at once) rejects the request.
fn ask(
    params: &CreateMessageParams,
    input: &mut dyn BufRead,
    term: &mut dyn Write,
) -> Option<String> {
    let _ = writeln!(
        term,
        "The server asks for a model's reply (sampling, at most {} tokens):",
        params.max_tokens
    );
    if let Some(system) = params.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        let _ = writeln!(term, "  [system] {}", one_line(system));
    }
    for m in &params.messages {
        let role = serde_json::to_value(m.role).unwrap_or_default();
        for block in m.content.iter() {
            let block = serde_json::to_value(block).unwrap_or_default();
            let _ = writeln!(
                term,
                "  [{}] {}",
                role.as_str().unwrap_or("?"),
                output::content_block(&block)
            );
        }
    }
    let _ = writeln!(
        term,
        "Type the reply, then an empty line (an empty reply declines):"
    );
    let _ = term.flush();
    let mut lines = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            break;
        }
        lines.push(text.to_owned());
    }
    if lines.is_empty() {
        let _ = writeln!(term, "declined");
        return None;
    }
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CreateMessageParams {
        let mut p = CreateMessageParams::user_text("What is the capital of France?", 100);
        p.system_prompt = Some("Be brief.".into());
        p
    }

    #[test]
    fn the_request_is_shown_and_the_reply_ends_at_an_empty_line() {
        let mut shown = Vec::new();
        let reply = ask(
            &params(),
            &mut &b"Paris,\nof course.\n\nnot this\n"[..],
            &mut shown,
        );
        assert_eq!(reply.as_deref(), Some("Paris,\nof course."));
        let shown = String::from_utf8(shown).unwrap();
        assert!(shown.contains("at most 100 tokens"), "{shown}");
        assert!(shown.contains("[system] Be brief."), "{shown}");
        assert!(
            shown.contains("[user] What is the capital of France?"),
            "{shown}"
        );
    }

    #[test]
    fn nothing_typed_rejects() {
        assert_eq!(
            ask(&params(), &mut &b"\nParis\n"[..], &mut Vec::new()),
            None
        );
        assert_eq!(ask(&params(), &mut &b""[..], &mut Vec::new()), None);
    }

    #[test]
    fn a_reply_flag_answers_as_an_assistant_that_ended_its_turn() {
        let s = Sampler::new(Some("Paris"), false).unwrap();
        let r = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(s.answer(params()))
            .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["content"]["text"], "Paris");
        assert_eq!(v["stopReason"], "endTurn");
        assert!(Sampler::new(None, false).is_none());
        assert_eq!(rejected().code, -1);
    }
}
