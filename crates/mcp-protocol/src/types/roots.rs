use serde::{Deserialize, Serialize};

use crate::JsonObject;

/// A root the client exposes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// A `file://` URI.
    pub uri: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Result of `roots/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListRootsResult {
    /// The roots.
    pub roots: Vec<Root>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl Root {
    /// A root by its `file://` URI.
    ///
    /// ```
    /// use mcp_protocol::types::Root;
    /// let r = Root::new("file:///work").with_name("work");
    /// assert_eq!(r.name.as_deref(), Some("work"));
    /// ```
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: None,
            meta: None,
        }
    }
}

with_setters!(Root {
    /// Set the display name.
    with_name => name: String,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ListRootsResult {
    /// A result listing these roots.
    pub fn new(roots: Vec<Root>) -> Self {
        Self { roots, meta: None }
    }
}

with_setters!(ListRootsResult {
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});
