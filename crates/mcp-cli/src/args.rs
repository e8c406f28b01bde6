//! Tool arguments from the command line, typed by the tool's `inputSchema`.
//!
//! `k=v` takes the type of property `k`: a string stays a string even when it is all digits, an integer or
//! number is parsed, a boolean accepts true/false/yes/no/1/0, an array takes JSON (`[1,2]`) or a comma list
//! whose items are typed by `items`, an object takes JSON. `k:=JSON` is that JSON, whatever the schema says.
//! `@FILE` (`@-`: stdin) merges a JSON object. Later words override earlier ones.

use std::io::Read;

use serde_json::{Map, Value};

use crate::error::CliError;

/// Build the arguments object from the command's words.
pub fn build(
    words: &[String],
    schema: Option<&Value>,
    raw: bool,
    stdin: &mut dyn Read,
) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for w in words {
        if let Some(src) = w.strip_prefix('@') {
            let text = if src == "-" {
                let mut s = String::new();
                stdin.read_to_string(&mut s).map_err(|e| {
                    CliError::Usage(format!("cannot read arguments from stdin: {e}"))
                })?;
                s
            } else {
                std::fs::read_to_string(src)
                    .map_err(|e| CliError::Usage(format!("cannot read {src}: {e}")))?
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => out.extend(m),
                Ok(_) => {
                    return Err(CliError::Usage(format!(
                        "{w}: the arguments must be a JSON object"
                    )))
                }
                Err(e) => return Err(CliError::Usage(format!("{w}: not JSON: {e}"))),
            }
            continue;
        }
        let (key, value) = parse_word(w, schema, raw)?;
        out.insert(key, value);
    }
    if let (Some(schema), false) = (schema, raw) {
        check_known(&out, schema)?;
        check_required(&out, schema)?;
    }
    Ok(out)
}

/// `k=v` or `k:=JSON`, typed.
pub fn parse_word(w: &str, schema: Option<&Value>, raw: bool) -> Result<(String, Value), CliError> {
    let eq = w.find('=').ok_or_else(|| {
        CliError::Usage(format!(
            "argument {w:?} should be NAME=VALUE, NAME:=JSON or @FILE"
        ))
    })?;
    if w[..eq].ends_with(':') {
        let key = &w[..eq - 1];
        check_key(key, w)?;
        let v = serde_json::from_str(&w[eq + 1..])
            .map_err(|e| CliError::Usage(format!("argument {key}: not JSON: {e}")))?;
        return Ok((key.to_owned(), v));
    }
    let (key, text) = (&w[..eq], &w[eq + 1..]);
    check_key(key, w)?;
    if raw {
        return Ok((key.to_owned(), Value::String(text.to_owned())));
    }
    let prop = schema.and_then(|s| property(s, key));
    let v = typed(text, prop, schema)
        .map_err(|why| CliError::Usage(format!("argument {key}: {why}")))?;
    Ok((key.to_owned(), v))
}

fn check_key(key: &str, w: &str) -> Result<(), CliError> {
    if key.is_empty() {
        return Err(CliError::Usage(format!("argument {w:?} has no name")));
    }
    Ok(())
}

/// An argument the schema forbids (`additionalProperties: false`) is a usage error, named with the known ones.
fn check_known(args: &Map<String, Value>, schema: &Value) -> Result<(), CliError> {
    if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Ok(());
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for k in args.keys() {
        if !props.is_some_and(|p| p.contains_key(k)) {
            let known: Vec<&str> = props
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(CliError::Usage(format!(
                "unknown argument {k:?} (the tool takes: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// A property the schema requires but no word gave is a usage error, named with its type, before the
/// server is asked (which would only answer with an `isError` result).
fn check_required(args: &Map<String, Value>, schema: &Value) -> Result<(), CliError> {
    let Some(required) = schema.get("required").and_then(Value::as_array) else {
        return Ok(());
    };
    let missing: Vec<String> = required
        .iter()
        .filter_map(Value::as_str)
        .filter(|k| !args.contains_key(*k))
        .map(|k| match property(schema, k).map(|p| types(schema, p)) {
            Some(t) if !t.is_empty() => format!("{k} ({})", t.join(" or ")),
            _ => k.to_owned(),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "missing required argument{} {} (give NAME=VALUE; --raw skips this check)",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", ")
    )))
}

/// The schema of property `key`, with a local `$ref` followed.
pub fn property<'a>(schema: &'a Value, key: &str) -> Option<&'a Value> {
    let p = schema.get("properties")?.get(key)?;
    Some(deref(schema, p))
}

fn deref<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let mut cur = s;
    // A bounded walk: a cycle of refs ends here instead of looping.
    for _ in 0..8 {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
            return cur;
        };
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(t) => cur = t,
            None => return cur,
        }
    }
    cur
}

/// The JSON types a schema allows, in the schema's order (`type`, then the branches of `anyOf`/`oneOf`).
fn types(root: &Value, s: &Value) -> Vec<String> {
    let s = deref(root, s);
    let mut out = Vec::new();
    match s.get("type") {
        Some(Value::String(t)) => out.push(t.clone()),
        Some(Value::Array(ts)) => {
            out.extend(ts.iter().filter_map(Value::as_str).map(str::to_owned))
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        for branch in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            for t in types(root, branch) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    if out.is_empty() {
        if let Some(Value::Array(vals)) = s.get("enum") {
            for v in vals {
                let t = match v {
                    Value::String(_) => "string",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "boolean",
                    _ => continue,
                };
                if !out.iter().any(|o| o == t) {
                    out.push(t.into());
                }
            }
        }
    }
    out
}

/// `text` as the type `prop` asks for. Without a schema for the property the value stays a string.
pub fn typed(text: &str, prop: Option<&Value>, root: Option<&Value>) -> Result<Value, String> {
    let (Some(prop), Some(root)) = (prop, root) else {
        return Ok(Value::String(text.to_owned()));
    };
    let ts: Vec<String> = types(root, prop)
        .into_iter()
        .filter(|t| t != "null" || text == "null")
        .collect();
    if ts.is_empty() {
        return Ok(Value::String(text.to_owned()));
    }
    let mut why = None;
    for t in &ts {
        match as_type(text, t, deref(root, prop), root) {
            Ok(v) => return Ok(v),
            Err(e) => why = why.or(Some(e)),
        }
    }
    Err(why.unwrap_or_else(|| format!("cannot read {text:?}")))
}

fn as_type(text: &str, t: &str, prop: &Value, root: &Value) -> Result<Value, String> {
    match t {
        "string" => Ok(Value::String(text.to_owned())),
        "integer" => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.trim().parse::<u64>().map(Value::from))
            .map_err(|_| format!("expected an integer, got {text:?}")),
        "number" => {
            let t = text.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::from(i));
            }
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("expected a number, got {text:?}"))
        }
        "boolean" => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(Value::Bool(true)),
            "false" | "no" | "0" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        "null" => Ok(Value::Null),
        "array" => {
            let t = text.trim();
            if t.starts_with('[') {
                return serde_json::from_str::<Value>(t)
                    .ok()
                    .filter(Value::is_array)
                    .ok_or_else(|| format!("expected a JSON array, got {text:?}"));
            }
            if t.is_empty() {
                return Ok(Value::Array(Vec::new()));
            }
            let items = prop.get("items");
            t.split(',')
                .map(|item| typed(item.trim(), items, Some(root)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        "object" => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| format!("expected a JSON object, got {text:?}")),
        _ => Ok(Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "code": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "sizes": {"type": "array", "items": {"type": "integer"}},
            "maybe": {"type": ["integer", "null"]},
            "addr": {"$ref": "#/$defs/a"},
            "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        }, "$defs": {"a": {"type": "object"}}})
    }

    fn build_words(words: &[&str], raw: bool) -> Result<Value, CliError> {
        let words: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        build(&words, Some(&schema()), raw, &mut std::io::empty()).map(Value::Object)
    }

    #[test]
    fn values_take_the_schemas_types() {
        let v = build_words(
            &[
                "code=007",
                "count=42",
                "ratio=2.5",
                "flag=yes",
                "tags=a,b",
                "sizes=1, 2",
                "maybe=null",
                "addr={\"x\":1}",
                "choice=x",
                "free=12",
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"code": "007", "count": 42, "ratio": 2.5, "flag": true, "tags": ["a", "b"],
                   "sizes": [1, 2], "maybe": null, "addr": {"x": 1}, "choice": "x", "free": "12"})
        );
    }

    #[test]
    fn an_array_takes_json_and_a_string_of_digits_stays_a_string() {
        let v = build_words(&["tags=[\"x,y\",\"z\"]", "code=123"], false).unwrap();
        assert_eq!(v, json!({"tags": ["x,y", "z"], "code": "123"}));
    }

    #[test]
    fn json_words_and_raw_mode_override_typing() {
        let v = build_words(&["code:=5", "count=7"], true).unwrap();
        assert_eq!(v, json!({"code": 5, "count": "7"}));
    }

    #[test]
    fn mismatches_are_usage_errors_naming_the_argument() {
        for bad in [
            "count=abc",
            "flag=maybe",
            "sizes=1,x",
            "addr=[1]",
            "nokey",
            "=1",
            "a:=nope",
        ] {
            let e = build_words(&[bad], false).unwrap_err();
            assert!(matches!(e, CliError::Usage(_)), "{bad}: {e}");
        }
        let e = build_words(&["count=abc"], false).unwrap_err();
        assert!(
            e.to_string().contains("count") && e.to_string().contains("integer"),
            "{e}"
        );
    }

    #[test]
    fn a_closed_schema_names_its_arguments() {
        let s = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
        let e = build(&["b=1".into()], Some(&s), false, &mut std::io::empty()).unwrap_err();
        assert!(e.to_string().contains("takes: a"), "{e}");
    }

    #[test]
    fn a_missing_required_argument_is_named_with_its_type_unless_raw() {
        let s = json!({"type": "object", "properties": {"message": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["message", "n"]});
        let e = build(&["n=1".into()], Some(&s), false, &mut std::io::empty()).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)), "{e}");
        assert!(
            e.to_string()
                .contains("missing required argument message (string)"),
            "{e}"
        );
        let e = build(&[], Some(&s), false, &mut std::io::empty()).unwrap_err();
        assert!(
            e.to_string()
                .contains("arguments message (string), n (integer)"),
            "{e}"
        );
        assert!(build(&[], Some(&s), true, &mut std::io::empty()).is_ok());
        let given = build(
            &["message=hi".into(), "n=2".into()],
            Some(&s),
            false,
            &mut std::io::empty(),
        );
        assert!(given.is_ok());
    }

    #[test]
    fn at_files_merge_and_later_words_win() {
        let mut stdin = std::io::Cursor::new(br#"{"count": 1, "code": "a"}"#.to_vec());
        let words = vec!["@-".to_string(), "count=2".to_string()];
        let v = build(&words, Some(&schema()), false, &mut stdin).unwrap();
        assert_eq!(Value::Object(v), json!({"count": 2, "code": "a"}));
        let mut stdin = std::io::Cursor::new(b"[1]".to_vec());
        assert!(build(&["@-".into()], None, false, &mut stdin).is_err());
    }
}
