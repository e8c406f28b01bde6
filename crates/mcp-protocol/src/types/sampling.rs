use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{ContentBlock, Role};
use crate::JsonObject;

/// Content of a sampling message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SamplingContent {
    /// Text.
    Text(super::TextContent),
    /// Image.
    Image(super::ImageContent),
    /// Audio.
    Audio(super::AudioContent),
    /// A tool call by the model (2025-11-25+).
    ToolUse(ToolUseContent),
    /// A tool's result fed back (2025-11-25+).
    ToolResult(ToolResultContent),
}

impl SamplingContent {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(super::TextContent {
            text: text.into(),
            annotations: None,
            meta: None,
        })
    }
    /// The text, if this is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(&t.text),
            _ => None,
        }
    }
}

/// A model's tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseContent {
    /// Call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub input: JsonObject,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// A tool result fed back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultContent {
    /// The call this answers.
    pub tool_use_id: String,
    /// Content.
    pub content: Vec<ContentBlock>,
    /// Structured content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// One content block or several (2025-11-25 allows arrays).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One.
    One(T),
    /// Several.
    Many(Vec<T>),
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Decided by the JSON type (array or not), not by trying shapes.
        let v = Value::deserialize(d)?;
        if v.is_array() {
            serde_json::from_value(v)
                .map(Self::Many)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(v)
                .map(Self::One)
                .map_err(D::Error::custom)
        }
    }
}

impl<T> OneOrMany<T> {
    /// Iterate over the items.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        match self {
            Self::One(t) => std::slice::from_ref(t).iter(),
            Self::Many(v) => v.iter(),
        }
    }
}

/// A message in a sampling conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingMessage {
    /// Speaker.
    pub role: Role,
    /// Content.
    pub content: OneOrMany<SamplingContent>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl SamplingMessage {
    /// A message from `role` with one content block.
    pub fn new(role: Role, content: SamplingContent) -> Self {
        Self {
            role,
            content: OneOrMany::One(content),
            meta: None,
        }
    }
    /// A message from `role` with several content blocks (2025-11-25+).
    pub fn with_blocks(role: Role, content: Vec<SamplingContent>) -> Self {
        Self {
            role,
            content: OneOrMany::Many(content),
            meta: None,
        }
    }
    /// A user message with text.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, SamplingContent::text(text))
    }
    /// An assistant message with text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, SamplingContent::text(text))
    }
}

with_setters!(SamplingMessage {
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

/// Model selection preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPreferences {
    /// Model name hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<Vec<ModelHint>>,
    /// 0–1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::common::ser_opt_f64"
    )]
    pub cost_priority: Option<f64>,
    /// 0–1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::common::ser_opt_f64"
    )]
    pub speed_priority: Option<f64>,
    /// 0–1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::common::ser_opt_f64"
    )]
    pub intelligence_priority: Option<f64>,
}

/// A model name hint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelHint {
    /// A (partial) model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Params of `sampling/createMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMessageParams {
    /// The conversation.
    pub messages: Vec<SamplingMessage>,
    /// Token limit the client must respect.
    pub max_tokens: u64,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Model preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_preferences: Option<ModelPreferences>,
    /// `none`, `thisServer` or `allServers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_context: Option<String>,
    /// Temperature.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::common::ser_opt_f64"
    )]
    pub temperature: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Provider metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Tools the model may call (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<super::Tool>>,
    /// Tool choice (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl CreateMessageParams {
    /// One user text message and a token limit.
    ///
    /// ```
    /// use mcp_protocol::types::CreateMessageParams;
    /// let p = CreateMessageParams::user_text("Write a haiku", 100)
    ///     .with_system_prompt("You are a poet")
    ///     .with_temperature(0.7);
    /// assert_eq!(p.max_tokens, 100);
    /// ```
    pub fn user_text(text: impl Into<String>, max_tokens: u64) -> Self {
        Self::new(vec![SamplingMessage::user(text)], max_tokens)
    }
    /// A conversation and a token limit; add the optional fields with the `with_*` methods.
    pub fn new(messages: Vec<SamplingMessage>, max_tokens: u64) -> Self {
        Self {
            messages,
            max_tokens,
            system_prompt: None,
            model_preferences: None,
            include_context: None,
            temperature: None,
            stop_sequences: None,
            metadata: None,
            tools: None,
            tool_choice: None,
            meta: None,
        }
    }
}

with_setters!(CreateMessageParams {
    /// Set the system prompt.
    with_system_prompt => system_prompt: String,
    /// Set the model preferences.
    with_model_preferences => model_preferences: ModelPreferences,
    /// Set which context to include: `none`, `thisServer` or `allServers`.
    with_include_context => include_context: String,
    /// Set the temperature.
    with_temperature => temperature: f64,
    /// Set the stop sequences.
    with_stop_sequences => stop_sequences: Vec<String>,
    /// Set provider metadata.
    with_metadata => metadata: Value,
    /// Set the tools the model may call (2025-11-25+).
    with_tools => tools: Vec<super::Tool>,
    /// Set the tool choice (2025-11-25+).
    with_tool_choice => tool_choice: Value,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

with_setters!(ModelPreferences {
    /// Set the model name hints, in order of preference.
    with_hints => hints: Vec<ModelHint>,
    /// Set how much cost matters (0–1).
    with_cost_priority => cost_priority: f64,
    /// Set how much speed matters (0–1).
    with_speed_priority => speed_priority: f64,
    /// Set how much capability matters (0–1).
    with_intelligence_priority => intelligence_priority: f64,
});

impl ModelHint {
    /// A hint naming a (partial) model name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
        }
    }
}

/// Result of `sampling/createMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateMessageResult {
    /// Speaker (assistant).
    pub role: Role,
    /// Content.
    pub content: OneOrMany<SamplingContent>,
    /// The model used.
    pub model: String,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl CreateMessageResult {
    /// The assistant's answer from `model`, one content block.
    pub fn new(model: impl Into<String>, content: SamplingContent) -> Self {
        Self {
            role: Role::Assistant,
            content: OneOrMany::One(content),
            model: model.into(),
            stop_reason: None,
            meta: None,
        }
    }
    /// The assistant's text answer from `model`.
    ///
    /// ```
    /// use mcp_protocol::types::CreateMessageResult;
    /// let r = CreateMessageResult::assistant_text("my-model", "old pond, frog").with_stop_reason("endTurn");
    /// assert_eq!(r.text(), Some("old pond, frog"));
    /// ```
    pub fn assistant_text(model: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(model, SamplingContent::text(text))
    }
    /// Set why generation stopped (`endTurn`, `stopSequence`, `maxTokens`, `toolUse`, …).
    #[must_use]
    pub fn with_stop_reason(mut self, reason: impl Into<String>) -> Self {
        self.stop_reason = Some(reason.into());
        self
    }
    /// Set `_meta`.
    #[must_use]
    pub fn with_meta(mut self, meta: JsonObject) -> Self {
        self.meta = Some(meta);
        self
    }
    /// The first text block, if any.
    pub fn text(&self) -> Option<&str> {
        self.content.iter().find_map(SamplingContent::as_text)
    }
}
