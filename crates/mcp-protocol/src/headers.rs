//! 2026-07-28 HTTP header rules (SEP-2243): `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` and the base64 sentinel.

use base64::Engine as _;
use serde_json::Value;

/// `MCP-Protocol-Version`.
pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Mcp-Session-Id` (legacy).
pub const SESSION_ID: &str = "mcp-session-id";
/// `Mcp-Method`.
pub const METHOD: &str = "mcp-method";
/// `Mcp-Name`.
pub const NAME: &str = "mcp-name";
/// Prefix of `Mcp-Param-{Name}`.
pub const PARAM_PREFIX: &str = "mcp-param-";
/// `Last-Event-ID`.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// The schema keyword that marks an argument to mirror into a header.
pub const X_MCP_HEADER: &str = "x-mcp-header";

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// The params field a request's `Mcp-Name` header mirrors: `name` for `tools/call` and `prompts/get`, `uri` for
/// `resources/read`, `taskId` for the tasks extension's `tasks/get`, `tasks/update` and `tasks/cancel`.
pub fn name_param(method: &str) -> Option<&'static str> {
    use crate::types::methods;
    match method {
        methods::TOOLS_CALL | methods::PROMPTS_GET => Some("name"),
        methods::RESOURCES_READ => Some("uri"),
        methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => Some("taskId"),
        _ => None,
    }
}

/// Encode a header value: as-is when it is printable ASCII without surrounding whitespace and does not look
/// like the sentinel, else `=?base64?<b64 of UTF-8>?=`.
///
/// ```
/// use mcp_protocol::headers::{encode_value, decode_value};
/// assert_eq!(encode_value("us-west1"), "us-west1");
/// assert_eq!(encode_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
/// assert_eq!(decode_value("=?base64?IHBhZGRlZCA=?=").unwrap(), " padded ");
/// ```
pub fn encode_value(v: &str) -> String {
    let plain = v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !v.starts_with([' ', '\t'])
        && !v.ends_with([' ', '\t'])
        && (!v.starts_with(SENTINEL_PREFIX) || !v.ends_with(SENTINEL_SUFFIX));
    if plain {
        v.to_owned()
    } else {
        format!(
            "{SENTINEL_PREFIX}{}{SENTINEL_SUFFIX}",
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        )
    }
}

/// Why a header value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderDecodeError {
    /// Bad base64 inside the sentinel.
    #[error("invalid base64 in header value")]
    BadBase64,
    /// The decoded bytes are not UTF-8.
    #[error("header value is not UTF-8")]
    NotUtf8,
}

/// Decode a header value: unwrap the base64 sentinel, else take it literally (after trimming surrounding
/// optional whitespace, as HTTP does).
pub fn decode_value(v: &str) -> Result<String, HeaderDecodeError> {
    let v = v.trim_matches([' ', '\t']);
    match v
        .strip_prefix(SENTINEL_PREFIX)
        .and_then(|r| r.strip_suffix(SENTINEL_SUFFIX))
    {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| HeaderDecodeError::BadBase64)?;
            String::from_utf8(bytes).map_err(|_| HeaderDecodeError::NotUtf8)
        }
        None => Ok(v.to_owned()),
    }
}

/// The header form of an argument value: string as is (then encoded), integer in decimal, booleans as
/// `true`/`false`. `None` for null/absent or for kinds that cannot be mirrored.
pub fn param_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(encode_value(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0)
            .map(|f| format!("{}", f as i64)),
        _ => None,
    }
}

/// Whether a name is a valid RFC 9110 token.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// An argument mirrored into an `Mcp-Param-*` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderParam {
    /// The header suffix (`Mcp-Param-{name}`).
    pub header: String,
    /// The top-level argument property it mirrors.
    pub property: String,
}

/// Why a tool's `x-mcp-header` annotations are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderAnnotationError {
    /// Not a token, or empty.
    #[error("x-mcp-header {0:?} is not a valid header name")]
    BadName(String),
    /// Two annotations share a name (case-insensitively).
    #[error("x-mcp-header {0:?} is used twice")]
    Duplicate(String),
    /// On a property whose type cannot be mirrored.
    #[error("x-mcp-header on property {0:?} whose type is not string, integer or boolean")]
    BadType(String),
    /// Somewhere other than a top-level property.
    #[error("x-mcp-header is only allowed on top-level properties")]
    NotTopLevel,
}

/// Collect a tool's `x-mcp-header` annotations, checking every rule. Annotations are valid only on top-level
/// `properties` of type string, integer or boolean.
pub fn header_params(input_schema: &Value) -> Result<Vec<HeaderParam>, HeaderAnnotationError> {
    // An annotation reachable other than through the root's `properties` (under `allOf`, `$defs`, `if`, …)
    // makes the tool invalid rather than being ignored.
    if let Some(root) = input_schema.as_object() {
        if root.iter().any(|(k, v)| {
            k != "properties"
                && (k == X_MCP_HEADER
                    || contains_annotation_below(v)
                    || v.get(X_MCP_HEADER).is_some())
        }) {
            return Err(HeaderAnnotationError::NotTopLevel);
        }
    }
    let mut out: Vec<HeaderParam> = Vec::new();
    if let Some(props) = input_schema.get("properties").and_then(Value::as_object) {
        for (prop_name, prop) in props {
            if let Some(h) = prop.get(X_MCP_HEADER) {
                let name = h.as_str().unwrap_or_default();
                if !is_token(name) {
                    return Err(HeaderAnnotationError::BadName(name.to_owned()));
                }
                let ty_ok = match prop.get("type") {
                    Some(Value::String(t)) => {
                        matches!(t.as_str(), "string" | "integer" | "boolean")
                    }
                    Some(Value::Array(ts)) => {
                        let ts: Vec<_> = ts
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|t| *t != "null")
                            .collect();
                        !ts.is_empty()
                            && ts
                                .iter()
                                .all(|t| matches!(*t, "string" | "integer" | "boolean"))
                    }
                    _ => false,
                };
                if !ty_ok {
                    return Err(HeaderAnnotationError::BadType(prop_name.clone()));
                }
                if out.iter().any(|p| p.header.eq_ignore_ascii_case(name)) {
                    return Err(HeaderAnnotationError::Duplicate(name.to_owned()));
                }
                out.push(HeaderParam {
                    header: name.to_owned(),
                    property: prop_name.clone(),
                });
            }
            if contains_annotation_below(prop) {
                return Err(HeaderAnnotationError::NotTopLevel);
            }
        }
    }
    Ok(out)
}

/// Whether an annotation appears anywhere below a property (nested objects, items, combinators).
fn contains_annotation_below(prop: &Value) -> bool {
    fn walk(v: &Value, top: bool) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| (!top && k == X_MCP_HEADER) || walk(v, false)),
            Value::Array(a) => a.iter().any(|v| walk(v, false)),
            _ => false,
        }
    }
    walk(prop, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_per_rules() {
        assert_eq!(encode_value(""), "");
        assert_eq!(
            encode_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert!(encode_value("line1\nline2").starts_with("=?base64?"));
        assert!(encode_value("=?base64?abc?=").starts_with("=?base64?"));
        assert_eq!(param_value(&json!(42)), Some("42".into()));
        assert_eq!(param_value(&json!(false)), Some("false".into()));
        assert_eq!(param_value(&json!(null)), None);
        assert_eq!(
            decode_value("=?base64?!!?="),
            Err(HeaderDecodeError::BadBase64)
        );
        assert_eq!(decode_value("  toolname  ").unwrap(), "toolname");
    }

    #[test]
    fn validates_annotations() {
        let ok = json!({"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}});
        assert_eq!(header_params(&ok).unwrap()[0].header, "Region");
        for bad in [
            json!({"properties":{"a":{"type":"string","x-mcp-header":""}}}),
            json!({"properties":{"a":{"type":"object","x-mcp-header":"A"}}}),
            json!({"properties":{"a":{"type":"number","x-mcp-header":"A"}}}),
            json!({"properties":{"a":{"type":"string","x-mcp-header":"has space"}}}),
            json!({"properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}),
            json!({"properties":{"a":{"type":"object","properties":{"b":{"type":"string","x-mcp-header":"B"}}}}}),
            json!({"type":"object","allOf":[{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}]}),
            json!({"type":"object","$defs":{"d":{"type":"string","x-mcp-header":"D"}}}),
            json!({"type":"object","if":{"properties":{"a":{"x-mcp-header":"A"}}}}),
        ] {
            assert!(header_params(&bad).is_err(), "{bad}");
        }
    }
}
