//! Printing for people (tables, content) and for scripts (JSON).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use comfy_table::{presets, Attribute, Cell, ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;

use crate::error::CliError;

/// Colour and styling are on: stdout is a terminal and `NO_COLOR` is unset (or empty).
pub fn styled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Each JSON result on one line (`mcp shell --json`), instead of pretty-printed.
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// Print every later JSON result on one line.
pub fn json_lines() {
    JSON_LINES.store(true, Ordering::Relaxed);
}

/// `v` as JSON on stdout.
pub fn json<T: Serialize>(v: &T) -> Result<(), CliError> {
    let text = if JSON_LINES.load(Ordering::Relaxed) {
        serde_json::to_string(v)
    } else {
        serde_json::to_string_pretty(v)
    }
    .map_err(|e| CliError::Protocol(format!("cannot print the result as JSON: {e}")))?;
    out!("{text}");
    Ok(())
}

/// A table with `headers` and `rows` on stdout.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut t = Table::new();
    let style = styled();
    t.load_preset(if std::io::stdout().is_terminal() {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    })
    .set_content_arrangement(ContentArrangement::Dynamic);
    if !style {
        t.force_no_tty();
    }
    t.set_header(headers.iter().map(|h| {
        let c = Cell::new(h);
        if style {
            c.add_attribute(Attribute::Bold)
        } else {
            c
        }
    }));
    for r in rows {
        t.add_row(r);
    }
    out!("{t}");
}

/// The first line of a description, for a table cell.
pub fn first_line(s: Option<&str>) -> String {
    s.unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A schema's properties as `name*: type` (`*` when required), for the tools and prompts tables.
pub fn schema_summary(schema: &Value) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    props
        .iter()
        .map(|(k, p)| {
            let ty = match p.get("type") {
                Some(Value::String(t)) if t == "array" => {
                    let item = p
                        .get("items")
                        .and_then(|i| i.get("type"))
                        .and_then(Value::as_str)
                        .unwrap_or("any");
                    format!("{item}[]")
                }
                Some(Value::String(t)) => t.clone(),
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => "any".into(),
            };
            let star = if required.contains(&k.as_str()) {
                "*"
            } else {
                ""
            };
            format!("{k}{star}: {ty}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Content blocks (tool results, prompt messages) for people: text as is, the rest summarized.
pub fn content_block(block: &Value) -> String {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
    let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" => s("text").to_owned(),
        "image" | "audio" => format!(
            "[{kind} {}, {} bytes of base64]",
            s("mimeType"),
            s("data").len()
        ),
        "resource_link" => format!("[link {} {}]", s("uri"), s("name")),
        "resource" => resource_contents(block.get("resource").unwrap_or(&Value::Null)),
        _ => block.to_string(),
    }
}

/// One `contents` item of a resource for people.
pub fn resource_contents(c: &Value) -> String {
    let s = |k: &str| c.get(k).and_then(Value::as_str);
    match (s("text"), s("blob")) {
        (Some(t), _) => t.to_owned(),
        (None, Some(b)) => format!(
            "[{} {}, {} bytes of base64; use --json for the data]",
            s("uri").unwrap_or_default(),
            s("mimeType").unwrap_or("blob"),
            b.len()
        ),
        (None, None) => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_summarize_types_and_required_fields() {
        let s = json!({"properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {"type": "integer"}},
                        "c": {}}, "required": ["a"]});
        assert_eq!(schema_summary(&s), "a*: string, b: integer[], c: any");
    }

    #[test]
    fn binary_content_is_summarized_not_dumped() {
        let b = json!({"type": "image", "mimeType": "image/png", "data": "AAAA"});
        assert_eq!(content_block(&b), "[image image/png, 4 bytes of base64]");
        let r = json!({"type": "resource", "resource": {"uri": "x://y", "text": "hello"}});
        assert_eq!(content_block(&r), "hello");
    }
}
