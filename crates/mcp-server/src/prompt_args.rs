//! Typed prompt arguments: a struct's JSON Schema gives the prompt's declared `arguments`, and the request's
//! string arguments are parsed into the struct.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use mcp_protocol::types::{GetPromptResult, PromptArgument};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::handler::PromptHandler;
use crate::{Error, RequestContext};

/// How one argument's string is read: prompt arguments are strings on the wire, the struct's field may not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Number,
    Boolean,
}

/// The declared arguments of a prompt taking `A`, and how to read each, or why `A` cannot be prompt
/// arguments.
pub(crate) struct TypedArgs {
    pub declared: Vec<PromptArgument>,
    kinds: BTreeMap<String, Kind>,
}

impl TypedArgs {
    pub(crate) fn of<A: schemars::JsonSchema>() -> Result<Self, String> {
        let root = schemars::generate::SchemaSettings::draft2020_12()
            .with(|s| s.inline_subschemas = true)
            .into_generator()
            .into_root_schema_for::<A>();
        let root = serde_json::to_value(root).map_err(|e| e.to_string())?;
        if root.get("type").and_then(Value::as_str) != Some("object") {
            return Err("its schema is not an object with named fields".into());
        }
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut declared = Vec::new();
        let mut kinds = BTreeMap::new();
        if let Some(props) = root.get("properties").and_then(Value::as_object) {
            for (name, schema) in props {
                let kind = kind_of(schema)
                    .ok_or_else(|| format!("argument `{name}` is not a string, number, integer or boolean (prompt arguments are strings on the wire)"))?;
                kinds.insert(name.clone(), kind);
                let text = |k: &str| schema.get(k).and_then(Value::as_str).map(str::to_owned);
                let mut arg = PromptArgument::new(name.clone())
                    .with_required(required.contains(&name.as_str()));
                if let Some(d) = text("description") {
                    arg = arg.with_description(d);
                }
                if let Some(t) = text("title") {
                    arg = arg.with_title(t);
                }
                declared.push(arg);
            }
        }
        Ok(Self { declared, kinds })
    }

    /// The request's string arguments as the JSON object `A` deserializes from.
    fn to_object(&self, args: BTreeMap<String, String>) -> Result<Map<String, Value>, Error> {
        let mut out = Map::new();
        for (name, text) in args {
            let value = match self.kinds.get(&name) {
                // Undeclared arguments stay strings; `A` ignores or refuses them as its serde attributes say.
                None | Some(Kind::String) => Value::String(text),
                Some(Kind::Integer) => text
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| text.trim().parse::<u64>().map(Value::from))
                    .map_err(|_| bad(&name, "an integer", &text))?,
                Some(Kind::Number) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| bad(&name, "a number", &text))?,
                Some(Kind::Boolean) => match text.trim() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err(bad(&name, "`true` or `false`", &text)),
                },
            };
            out.insert(name, value);
        }
        Ok(out)
    }
}

fn bad(name: &str, expected: &str, got: &str) -> Error {
    Error::invalid_params(format!(
        "prompt argument `{name}` must be {expected}, got {got:?}"
    ))
}

/// The kind of a property schema, `Option`'s `null` aside; `None` for anything but a primitive.
fn kind_of(schema: &Value) -> Option<Kind> {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        // `Option<Enum>` is `anyOf: [{enum}, {type: null}]`; a string enum is a string.
        None => {
            let members = schema
                .get("anyOf")
                .or_else(|| schema.get("oneOf"))
                .and_then(Value::as_array)?;
            let kinds: Vec<Kind> = members
                .iter()
                .filter(|m| m.get("type").and_then(Value::as_str) != Some("null"))
                .map(|m| {
                    kind_of(m).or_else(|| {
                        m.get("const")
                            .filter(|c| c.is_string())
                            .map(|_| Kind::String)
                    })
                })
                .collect::<Option<_>>()?;
            return kinds
                .first()
                .copied()
                .filter(|k| kinds.iter().all(|o| o == k));
        }
        _ => return None,
    };
    let mut kinds = types.into_iter().filter(|t| *t != "null").map(|t| match t {
        "string" => Some(Kind::String),
        "integer" => Some(Kind::Integer),
        "number" => Some(Kind::Number),
        "boolean" => Some(Kind::Boolean),
        _ => None,
    });
    let kind = kinds.next()??;
    kinds.next().is_none().then_some(kind)
}

/// Wrap `Fn(ctx, A) -> Future<Result<GetPromptResult, Error>>` as a [`PromptHandler`] that parses `A` from the
/// request's string arguments; a missing required or unparsable argument is invalid params (-32602).
pub(crate) fn typed_prompt<A, F, Fut>(args: Arc<TypedArgs>, f: F) -> impl PromptHandler
where
    A: DeserializeOwned + Send + 'static,
    F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<GetPromptResult, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    move |ctx: RequestContext, raw: BTreeMap<String, String>| {
        let (f, args) = (f.clone(), args.clone());
        async move {
            let object = args.to_object(raw)?;
            let a: A = serde_json::from_value(Value::Object(object))
                .map_err(|e| Error::invalid_params(format!("invalid prompt arguments: {e}")))?;
            f(ctx, a).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Review {
        /// The code to review.
        code: String,
        /// How many issues at most.
        max_issues: Option<u32>,
        strict: bool,
        #[schemars(title = "Temperature")]
        temp: Option<f64>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Nested {
        inner: Review,
    }

    #[test]
    fn declared_arguments_come_from_the_schema() {
        let args = TypedArgs::of::<Review>().unwrap();
        let by_name = |n: &str| args.declared.iter().find(|a| a.name == n).unwrap();
        assert_eq!(by_name("code").required, Some(true));
        assert_eq!(
            by_name("code").description.as_deref(),
            Some("The code to review.")
        );
        assert_eq!(by_name("max_issues").required, Some(false));
        assert_eq!(by_name("strict").required, Some(true));
        assert_eq!(by_name("temp").title.as_deref(), Some("Temperature"));
        assert_eq!(args.kinds["max_issues"], Kind::Integer);
        assert_eq!(args.kinds["temp"], Kind::Number);
        assert_eq!(args.kinds["strict"], Kind::Boolean);
        let e = TypedArgs::of::<Nested>().err().unwrap();
        assert!(e.contains("`inner`"), "{e}");
    }

    #[test]
    fn strings_are_read_as_the_field_types() {
        let args = TypedArgs::of::<Review>().unwrap();
        let raw = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let o = args
            .to_object(raw(&[
                ("code", "x"),
                ("max_issues", " 3"),
                ("strict", "true"),
                ("temp", "0.5"),
            ]))
            .unwrap();
        assert_eq!(
            Value::Object(o),
            serde_json::json!({"code": "x", "max_issues": 3, "strict": true, "temp": 0.5})
        );
        for bad in [("max_issues", "three"), ("strict", "yes"), ("temp", "warm")] {
            let Some(e) = args
                .to_object(raw(&[bad]))
                .err()
                .and_then(|e| e.rpc_error().cloned())
            else {
                panic!("{bad:?} was accepted")
            };
            assert_eq!(e.code, -32602);
            assert!(e.message.contains(bad.0), "{}", e.message);
        }
    }
}
