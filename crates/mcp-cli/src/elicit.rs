//! Answering a server's elicitation: from `--answer k=v`, by asking on the terminal, or declining.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use mcp_protocol::types::{ElicitRequestParams, ElicitResult};
use mcp_protocol::ErrorObject;
use serde_json::{Map, Value};

use crate::args;

/// Answers elicitation requests for one run.
#[derive(Clone)]
pub struct Elicitor {
    answers: Arc<Vec<(String, String)>>,
    /// May ask on the terminal (stdin and stderr are terminals and `--no-input` was not given).
    interactive: bool,
}

impl Elicitor {
    /// From `--answer` and `--no-input`. Answers that are not `k=v` are refused before connecting.
    pub fn new(answers: &[String], no_input: bool) -> Result<Self, crate::error::CliError> {
        let answers = answers
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(crate::error::CliError::Usage(format!(
                    "--answer {a:?} should look like FIELD=VALUE"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let interactive =
            !no_input && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Ok(Self {
            answers: Arc::new(answers),
            interactive,
        })
    }

    /// Whether the terminal may be asked (stdin and stderr are terminals, `--no-input` was not given).
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// The answer to one request.
    pub fn answer(
        &self,
        params: ElicitRequestParams,
    ) -> impl std::future::Future<Output = Result<ElicitResult, ErrorObject>> + Send + 'static {
        let this = self.clone();
        async move {
            let form = match params {
                ElicitRequestParams::Form(f) => f,
                ElicitRequestParams::Url(u) => {
                    eprintln!(
                        "mcp: the server asks you to open {} ({}); declined",
                        u.url,
                        crate::error::one_line(&u.message)
                    );
                    return Ok(ElicitResult::decline());
                }
            };
            let schema = form.requested_schema;
            // Terminal prompts block on stdin: off the async threads.
            let message = form.message;
            let r = tokio::task::spawn_blocking(move || this.fill(&message, &schema))
                .await
                .map_err(|e| ErrorObject::internal(e.to_string()))?;
            Ok(r)
        }
    }

    fn fill(&self, message: &str, schema: &Value) -> ElicitResult {
        let props = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut content = Map::new();
        for (k, v) in self.answers.iter() {
            if !props.contains_key(k) {
                continue;
            }
            match args::typed(v, args::property(schema, k), Some(schema)) {
                Ok(v) => {
                    content.insert(k.clone(), v);
                }
                Err(why) => {
                    eprintln!("mcp: --answer {k}: {why}; declined");
                    return ElicitResult::decline();
                }
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| {
                !content.contains_key(*k) && props.get(*k).and_then(|p| p.get("default")).is_none()
            })
            .collect();
        if missing.is_empty() && (!self.answers.is_empty() || !self.interactive) {
            if self.answers.is_empty() && !props.is_empty() {
                // Nothing answered and nothing to ask with: do not accept on the user's behalf.
                eprintln!(
                    "mcp: the server asks: {}; declined (give --answer FIELD=VALUE)",
                    crate::error::one_line(message)
                );
                return ElicitResult::decline();
            }
            return ElicitResult::accept(content);
        }
        if !self.interactive {
            eprintln!(
                "mcp: the server asks: {}; declined (missing --answer for {})",
                crate::error::one_line(message),
                missing.join(", ")
            );
            return ElicitResult::decline();
        }
        match ask(message, schema, &props, &required, content) {
            Some(c) => ElicitResult::accept(c),
            None => ElicitResult::decline(),
        }
    }
}

/// Ask for every field not answered yet on the terminal. An empty line keeps the default or skips an
/// optional field; end of input declines.
fn ask(
    message: &str,
    schema: &Value,
    props: &Map<String, Value>,
    required: &[&str],
    mut content: Map<String, Value>,
) -> Option<Map<String, Value>> {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{message}");
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    for (k, p) in props {
        if content.contains_key(k) {
            continue;
        }
        let req = required.contains(&k.as_str());
        loop {
            let desc = p.get("description").and_then(Value::as_str).unwrap_or("");
            let default = p.get("default");
            let _ = write!(
                err,
                "  {k}{}{}{}: ",
                if req { "*" } else { "" },
                if desc.is_empty() {
                    String::new()
                } else {
                    format!(" ({desc})")
                },
                default.map(|d| format!(" [{d}]")).unwrap_or_default()
            );
            let _ = err.flush();
            let line = lines.next()?.ok()?;
            let line = line.trim();
            if line.is_empty() {
                if let Some(d) = default {
                    content.insert(k.clone(), d.clone());
                    break;
                }
                if !req {
                    break;
                }
                let _ = writeln!(err, "  {k} is required");
                continue;
            }
            match args::typed(line, args::property(schema, k), Some(schema)) {
                Ok(v) => {
                    content.insert(k.clone(), v);
                    break;
                }
                Err(why) => {
                    let _ = writeln!(err, "  {why}");
                }
            }
        }
    }
    Some(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_protocol::types::ElicitAction;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "username": {"type": "string"}, "age": {"type": "integer"}, "ok": {"type": "boolean", "default": true}
        }, "required": ["username", "ok"]})
    }

    fn elicitor(answers: &[&str]) -> Elicitor {
        Elicitor {
            answers: Arc::new(
                answers
                    .iter()
                    .map(|a| {
                        let (k, v) = a.split_once('=').unwrap();
                        (k.into(), v.into())
                    })
                    .collect(),
            ),
            interactive: false,
        }
    }

    #[test]
    fn answers_are_typed_and_fields_not_asked_are_left_out() {
        let r = elicitor(&["username=0042", "age=7", "other=x"]).fill("?", &schema());
        assert_eq!(r.action, ElicitAction::Accept);
        assert_eq!(
            Value::Object(r.content.unwrap()),
            json!({"username": "0042", "age": 7})
        );
    }

    #[test]
    fn a_missing_required_answer_or_no_answers_decline() {
        assert_eq!(
            elicitor(&["age=7"]).fill("?", &schema()).action,
            ElicitAction::Decline
        );
        assert_eq!(
            elicitor(&[]).fill("?", &schema()).action,
            ElicitAction::Decline
        );
        assert_eq!(
            elicitor(&["username=a", "age=old"])
                .fill("?", &schema())
                .action,
            ElicitAction::Decline
        );
    }

    #[test]
    fn malformed_answers_are_refused_up_front() {
        assert!(Elicitor::new(&["novalue".into()], true).is_err());
        assert!(Elicitor::new(&["=x".into()], true).is_err());
    }
}
