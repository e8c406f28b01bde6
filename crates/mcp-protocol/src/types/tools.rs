use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ContentBlock, Icon};
use crate::JsonObject;

/// A tool the server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// Unique name.
    pub name: String,
    /// Display name (2025-06-18+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments, kept verbatim.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent` (2025-06-18+), kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Behaviour hints (untrusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Task support (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ToolExecution>,
    /// Icons (2025-11-25+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl Tool {
    /// A tool with its name and the JSON Schema of its arguments (`{"type": "object"}` for none); add the
    /// optional fields with the `with_*` methods.
    ///
    /// ```
    /// use mcp_protocol::types::{Tool, ToolAnnotations};
    /// let t = Tool::new("search", serde_json::json!({"type": "object", "properties": {"q": {"type": "string"}}}))
    ///     .with_description("Search the docs")
    ///     .with_annotations(ToolAnnotations::default().with_read_only_hint(true));
    /// assert_eq!(t.annotations.and_then(|a| a.read_only_hint), Some(true));
    /// ```
    pub fn new(name: impl Into<String>, input_schema: Value) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            input_schema,
            output_schema: None,
            annotations: None,
            execution: None,
            icons: None,
            meta: None,
        }
    }
}

with_setters!(Tool {
    /// Set the display name.
    with_title => title: String,
    /// Set the description (what the model reads to decide when to call it).
    with_description => description: String,
    /// Set the JSON Schema of `structuredContent`.
    with_output_schema => output_schema: Value,
    /// Set the behaviour hints.
    with_annotations => annotations: ToolAnnotations,
    /// Set the execution properties.
    with_execution => execution: ToolExecution,
    /// Set the icons.
    with_icons => icons: Vec<Icon>,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

/// Hints about a tool's behaviour. Clients treat them as untrusted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// May perform destructive updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Repeating a call has no additional effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// Interacts with an open world of entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

with_setters!(ToolAnnotations {
    /// Set the display name.
    with_title => title: String,
    /// Set whether it leaves its environment unchanged.
    with_read_only_hint => read_only_hint: bool,
    /// Set whether it may perform destructive updates.
    with_destructive_hint => destructive_hint: bool,
    /// Set whether repeating a call has no further effect.
    with_idempotent_hint => idempotent_hint: bool,
    /// Set whether it reaches an open world of entities.
    with_open_world_hint => open_world_hint: bool,
});

/// Execution properties of a tool (2025-11-25).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolExecution {
    /// `forbidden`, `optional` or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_support: Option<String>,
}

/// Result of `tools/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListToolsResult {
    /// The tools on this page.
    pub tools: Vec<Tool>,
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of `tools/call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolParams {
    /// The tool's name.
    pub name: String,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<JsonObject>,
    /// MRTR: answers to the previous round's input requests (2026-07-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_responses: Option<JsonObject>,
    /// MRTR: the opaque state echoed from the previous round (2026-07-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// Task augmentation (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<JsonObject>,
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Result of `tools/call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// Unstructured content.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// Structured content matching the tool's `outputSchema` (an object before 2026-07-28, any JSON after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl CallToolResult {
    /// A successful result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            ..Default::default()
        }
    }
    /// A tool error (`isError: true`) with a message.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(message)],
            is_error: Some(true),
            ..Default::default()
        }
    }
    /// A successful result from content blocks.
    pub fn from_content(content: Vec<ContentBlock>) -> Self {
        Self {
            content,
            ..Default::default()
        }
    }
    /// Structured content plus its JSON text copy, as the spec recommends.
    pub fn structured(value: Value) -> Self {
        Self {
            content: vec![ContentBlock::text(value.to_string())],
            structured_content: Some(value),
            ..Default::default()
        }
    }
    /// Set the structured content (without adding a text copy; see [`CallToolResult::structured`]).
    #[must_use]
    pub fn with_structured_content(mut self, value: Value) -> Self {
        self.structured_content = Some(value);
        self
    }
    /// Set `_meta`.
    #[must_use]
    pub fn with_meta(mut self, meta: JsonObject) -> Self {
        self.meta = Some(meta);
        self
    }
    /// Whether this result reports a tool error.
    pub fn is_error(&self) -> bool {
        self.is_error == Some(true)
    }
    /// All text blocks joined by newlines.
    pub fn text_content(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentBlock::as_text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The structured content read as a `T`: the other end of a server's typed output (`Json<T>` in
    /// `mcp-server`). A tool error, a result without structured content and content of another shape are
    /// errors, each saying which.
    ///
    /// ```
    /// use mcp_protocol::types::{CallToolResult, StructuredContentError};
    ///
    /// #[derive(serde::Deserialize, Debug, PartialEq)]
    /// struct Sum { sum: f64 }
    ///
    /// let ok = CallToolResult::structured(serde_json::json!({"sum": 3.0}));
    /// assert_eq!(ok.structured_as::<Sum>().unwrap(), Sum { sum: 3.0 });
    ///
    /// let failed = CallToolResult::error("division by zero");
    /// assert!(matches!(
    ///     failed.structured_as::<Sum>(),
    ///     Err(StructuredContentError::ToolError(m)) if m == "division by zero"
    /// ));
    /// assert!(matches!(
    ///     CallToolResult::text("3").structured_as::<Sum>(),
    ///     Err(StructuredContentError::Missing)
    /// ));
    /// ```
    pub fn structured_as<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<T, StructuredContentError> {
        if self.is_error() {
            return Err(StructuredContentError::ToolError(self.text_content()));
        }
        let value = self
            .structured_content
            .as_ref()
            .ok_or(StructuredContentError::Missing)?;
        T::deserialize(value).map_err(StructuredContentError::Shape)
    }

    /// [`CallToolResult::structured_as`], taking the result (its structured content is not copied).
    ///
    /// ```
    /// use mcp_protocol::types::{CallToolResult, StructuredContentError};
    ///
    /// let result = CallToolResult::structured(serde_json::json!({"city": "Paris", "temperature": 21.5}));
    /// let weather: std::collections::BTreeMap<String, serde_json::Value> = result.into_structured()?;
    /// assert_eq!(weather["city"], "Paris");
    /// # Ok::<(), StructuredContentError>(())
    /// ```
    pub fn into_structured<T: serde::de::DeserializeOwned>(
        self,
    ) -> Result<T, StructuredContentError> {
        if self.is_error() {
            return Err(StructuredContentError::ToolError(self.text_content()));
        }
        let value = self
            .structured_content
            .ok_or(StructuredContentError::Missing)?;
        serde_json::from_value(value).map_err(StructuredContentError::Shape)
    }
}

/// Why a [`CallToolResult`]'s structured content could not be read as the type asked for.
///
/// ```
/// use mcp_protocol::types::{CallToolResult, StructuredContentError};
///
/// let wrong = CallToolResult::structured(serde_json::json!({"sum": "three"}));
/// let err = wrong.structured_as::<f64>().unwrap_err();
/// assert!(matches!(err, StructuredContentError::Shape(_)));
/// assert!(err.to_string().starts_with("the structuredContent is not of the type asked for"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StructuredContentError {
    /// The tool reported an error (`isError: true`); its text content.
    #[error("the tool failed: {0}")]
    ToolError(String),
    /// The result carries no `structuredContent`.
    #[error("the result has no structuredContent")]
    Missing,
    /// The structured content is not of the type asked for.
    #[error("the structuredContent is not of the type asked for: {0}")]
    Shape(#[source] serde_json::Error),
}
