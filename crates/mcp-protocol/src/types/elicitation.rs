use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::JsonObject;

/// Params of `elicitation/create`, by `mode` (absent means form).
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitRequestParams {
    /// Ask the user to fill a form.
    Form(ElicitFormParams),
    /// Send the user to a URL (2025-11-25+).
    Url(ElicitUrlParams),
}

/// A form elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitFormParams {
    /// Whether `"mode": "form"` is written on the wire. Absent means form (so 2025-06-18 peers, which predate
    /// `mode`, read it the same); [`ElicitRequestParams::form`] sets it, and a parsed message keeps what it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FormMode>,
    /// What to ask.
    pub message: String,
    /// A flat object schema of primitives.
    pub requested_schema: Value,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// The literal `"form"` elicitation mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormMode {
    /// `"form"`.
    #[default]
    Form,
}

/// A URL elicitation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitUrlParams {
    /// Why.
    pub message: String,
    /// Where to send the user.
    pub url: String,
    /// Id for completion notifications (2025-11-25 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elicitation_id: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl ElicitRequestParams {
    /// A form elicitation.
    pub fn form(message: impl Into<String>, requested_schema: Value) -> Self {
        Self::Form(ElicitFormParams::new(message, requested_schema))
    }
    /// A URL elicitation.
    pub fn url(message: impl Into<String>, url: impl Into<String>) -> Self {
        Self::Url(ElicitUrlParams::new(message, url))
    }
}

impl ElicitFormParams {
    /// A form asking `message`, with a flat object schema of primitive fields (see
    /// [`RequestedSchema`](super::RequestedSchema)). Writes `"mode": "form"`.
    pub fn new(message: impl Into<String>, requested_schema: Value) -> Self {
        Self {
            mode: Some(FormMode::Form),
            message: message.into(),
            requested_schema,
            meta: None,
        }
    }
}

with_setters!(ElicitFormParams {
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ElicitUrlParams {
    /// Send the user to `url`, saying why in `message`.
    pub fn new(message: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            url: url.into(),
            elicitation_id: None,
            meta: None,
        }
    }
}

with_setters!(ElicitUrlParams {
    /// Set the id that `notifications/elicitation/complete` will name (2025-11-25).
    with_elicitation_id => elicitation_id: String,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl From<ElicitFormParams> for ElicitRequestParams {
    fn from(p: ElicitFormParams) -> Self {
        Self::Form(p)
    }
}

impl From<ElicitUrlParams> for ElicitRequestParams {
    fn from(p: ElicitUrlParams) -> Self {
        Self::Url(p)
    }
}

impl Serialize for ElicitRequestParams {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // The form params carry their own (optional) `mode`.
            Self::Form(p) => p.serialize(s),
            Self::Url(p) => {
                let mut value = serde_json::to_value(p).map_err(serde::ser::Error::custom)?;
                if let Value::Object(m) = &mut value {
                    m.insert("mode".into(), Value::String("url".into()));
                }
                value.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ElicitRequestParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Some(obj) = v.as_object_mut() else {
            return Err(D::Error::custom("elicitation params must be an object"));
        };
        match obj.get("mode") {
            None | Some(Value::Null) => {
                obj.remove("mode");
                serde_json::from_value(v)
                    .map(Self::Form)
                    .map_err(D::Error::custom)
            }
            Some(Value::String(m)) if m == "form" => serde_json::from_value(v)
                .map(Self::Form)
                .map_err(D::Error::custom),
            Some(Value::String(m)) if m == "url" => {
                obj.remove("mode");
                serde_json::from_value(v)
                    .map(Self::Url)
                    .map_err(D::Error::custom)
            }
            Some(other) => Err(D::Error::custom(format!(
                "unknown elicitation mode {other}"
            ))),
        }
    }
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitAction {
    /// Submitted.
    Accept,
    /// Explicitly declined.
    Decline,
    /// Dismissed.
    Cancel,
}

/// Result of `elicitation/create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitResult {
    /// What the user did.
    pub action: ElicitAction,
    /// The submitted values (with `accept` in form mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<JsonObject>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl ElicitResult {
    /// An accepted form.
    pub fn accept(content: JsonObject) -> Self {
        Self {
            action: ElicitAction::Accept,
            content: Some(content),
            meta: None,
        }
    }
    /// Declined.
    pub fn decline() -> Self {
        Self {
            action: ElicitAction::Decline,
            content: None,
            meta: None,
        }
    }
    /// Dismissed without a choice.
    pub fn cancel() -> Self {
        Self {
            action: ElicitAction::Cancel,
            content: None,
            meta: None,
        }
    }
    /// An accepted URL elicitation (no content: the user went to the URL).
    pub fn accept_url() -> Self {
        Self {
            action: ElicitAction::Accept,
            content: None,
            meta: None,
        }
    }
}

with_setters!(ElicitResult {
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

/// Fill absent fields of `content` from the `default`s in a form schema (SEP-1034).
///
/// ```
/// use serde_json::json;
/// let schema = json!({"type":"object","properties":{"name":{"type":"string","default":"John"}}});
/// let mut content = serde_json::Map::new();
/// mcp_protocol::types::apply_schema_defaults(&schema, &mut content);
/// assert_eq!(content["name"], "John");
/// ```
pub fn apply_schema_defaults(schema: &Value, content: &mut JsonObject) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if let Some(default) = prop.get("default") {
                content
                    .entry(name.clone())
                    .or_insert_with(|| default.clone());
            }
        }
    }
}
