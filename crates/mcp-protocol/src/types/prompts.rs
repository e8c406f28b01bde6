use serde::{Deserialize, Serialize};

use super::{ContentBlock, Icon, Role};
use crate::JsonObject;

/// A prompt template the server offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    /// Name.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Vec<PromptArgument>>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// An argument of a prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptArgument {
    /// Name.
    pub name: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// A message of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// Speaker.
    pub role: Role,
    /// Content.
    pub content: ContentBlock,
}

impl PromptMessage {
    /// A message from `role` with one content block (anything that converts into one, such as a
    /// [`TextContent`](super::TextContent) or an [`ImageContent`](super::ImageContent)).
    pub fn new(role: Role, content: impl Into<ContentBlock>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
    /// A user message with text.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, ContentBlock::text(text))
    }
    /// An assistant message with text.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, ContentBlock::text(text))
    }
}

/// Result of `prompts/list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPromptsResult {
    /// Prompts on this page.
    pub prompts: Vec<Prompt>,
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of `prompts/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPromptParams {
    /// The prompt's name.
    pub name: String,
    /// Arguments (string values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<std::collections::BTreeMap<String, String>>,
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

/// Result of `prompts/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPromptResult {
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Messages.
    pub messages: Vec<PromptMessage>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl Prompt {
    /// A prompt with its name; add the optional fields with the `with_*` methods.
    ///
    /// ```
    /// use mcp_protocol::types::{Prompt, PromptArgument};
    /// let p = Prompt::new("haiku")
    ///     .with_description("Write a haiku")
    ///     .with_argument(PromptArgument::new("topic").with_required(true))
    ///     .with_argument(PromptArgument::new("mood").with_description("How it should feel"));
    /// assert_eq!(p.arguments.as_ref().map(Vec::len), Some(2));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            arguments: None,
            icons: None,
            meta: None,
        }
    }
    /// Append one argument to the declared arguments.
    #[must_use]
    pub fn with_argument(mut self, argument: PromptArgument) -> Self {
        self.arguments.get_or_insert_with(Vec::new).push(argument);
        self
    }
}

with_setters!(Prompt {
    /// Set the display name.
    with_title => title: String,
    /// Set the description.
    with_description => description: String,
    /// Set all the declared arguments at once (see [`Prompt::with_argument`] to add one).
    with_arguments => arguments: Vec<PromptArgument>,
    /// Set the icons.
    with_icons => icons: Vec<Icon>,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl PromptArgument {
    /// An argument with its name (optional unless [`with_required`](Self::with_required) says otherwise).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            required: None,
        }
    }
}

with_setters!(PromptArgument {
    /// Set the display name.
    with_title => title: String,
    /// Set the description.
    with_description => description: String,
    /// Set whether the client must give it.
    with_required => required: bool,
});

impl GetPromptResult {
    /// A rendered prompt with its messages.
    ///
    /// ```
    /// use mcp_protocol::types::{GetPromptResult, PromptMessage};
    /// let r = GetPromptResult::new(vec![PromptMessage::user("Write a haiku about rain")])
    ///     .with_description("A haiku");
    /// assert_eq!(r.messages[0].content.as_text(), Some("Write a haiku about rain"));
    /// ```
    pub fn new(messages: Vec<PromptMessage>) -> Self {
        Self {
            description: None,
            messages,
            meta: None,
        }
    }
}

with_setters!(GetPromptResult {
    /// Set the description.
    with_description => description: String,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});
