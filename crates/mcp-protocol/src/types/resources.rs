use serde::{Deserialize, Serialize};

use super::{Annotations, Icon, ResourceContents};
use crate::JsonObject;

/// A resource the server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// URI.
    pub uri: String,
    /// Name.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// A family of resources named by an RFC 6570 URI template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// The URI template.
    pub uri_template: String,
    /// Name.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Result of `resources/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResourcesResult {
    /// Resources on this page.
    pub resources: Vec<Resource>,
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Result of `resources/templates/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResourceTemplatesResult {
    /// Templates on this page.
    pub resource_templates: Vec<ResourceTemplate>,
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of `resources/read`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadResourceParams {
    /// The URI to read.
    pub uri: String,
    /// MRTR answers (2026-07-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_responses: Option<JsonObject>,
    /// MRTR state (2026-07-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Result of `resources/read`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadResourceResult {
    /// The contents (never empty).
    pub contents: Vec<ResourceContents>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of `resources/subscribe`, `resources/unsubscribe` and `notifications/resources/updated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUriParams {
    /// The resource's URI.
    pub uri: String,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl Resource {
    /// A resource with its URI and name; add the optional fields with the `with_*` methods.
    ///
    /// ```
    /// use mcp_protocol::types::Resource;
    /// let readme = Resource::new("file:///readme.md", "readme")
    ///     .with_mime_type("text/markdown")
    ///     .with_description("The project's README");
    /// assert_eq!(readme.mime_type.as_deref(), Some("text/markdown"));
    /// ```
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
            size: None,
            icons: None,
            annotations: None,
            meta: None,
        }
    }
}

with_setters!(Resource {
    /// Set the display name.
    with_title => title: String,
    /// Set the description.
    with_description => description: String,
    /// Set the MIME type.
    with_mime_type => mime_type: String,
    /// Set the size in bytes.
    with_size => size: u64,
    /// Set the icons.
    with_icons => icons: Vec<Icon>,
    /// Set the annotations.
    with_annotations => annotations: Annotations,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ResourceTemplate {
    /// A template with its RFC 6570 URI template and name; add the optional fields with the `with_*` methods.
    ///
    /// ```
    /// use mcp_protocol::types::ResourceTemplate;
    /// let users = ResourceTemplate::new("users://{id}", "user")
    ///     .with_description("A user by id")
    ///     .with_mime_type("application/json");
    /// assert_eq!(users.uri_template, "users://{id}");
    /// ```
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri_template: uri_template.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
            icons: None,
            annotations: None,
            meta: None,
        }
    }
}

with_setters!(ResourceTemplate {
    /// Set the display name.
    with_title => title: String,
    /// Set the description.
    with_description => description: String,
    /// Set the MIME type of every resource it names.
    with_mime_type => mime_type: String,
    /// Set the icons.
    with_icons => icons: Vec<Icon>,
    /// Set the annotations.
    with_annotations => annotations: Annotations,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ReadResourceResult {
    /// A result with these contents (the spec wants at least one).
    ///
    /// ```
    /// use mcp_protocol::types::{ReadResourceResult, ResourceContents};
    /// let r = ReadResourceResult::new(vec![ResourceContents::text("file:///a.txt", "text/plain", "hi")]);
    /// assert_eq!(r.contents[0].uri(), "file:///a.txt");
    /// // One item converts directly:
    /// let same: ReadResourceResult = ResourceContents::text("file:///a.txt", "text/plain", "hi").into();
    /// assert_eq!(r, same);
    /// ```
    pub fn new(contents: Vec<ResourceContents>) -> Self {
        Self {
            contents,
            meta: None,
        }
    }
}

with_setters!(ReadResourceResult {
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl From<ResourceContents> for ReadResourceResult {
    fn from(contents: ResourceContents) -> Self {
        Self::new(vec![contents])
    }
}
