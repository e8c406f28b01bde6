use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Annotations, Icon};
use crate::JsonObject;

/// A content block in tool results and prompt messages, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text(TextContent),
    /// A base64 image.
    Image(ImageContent),
    /// Base64 audio (2025-03-26+).
    Audio(AudioContent),
    /// A link to a resource (2025-06-18+).
    ResourceLink(ResourceLink),
    /// An embedded resource.
    Resource(EmbeddedResource),
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextContent {
            text: text.into(),
            annotations: None,
            meta: None,
        })
    }
    /// An image block.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Self::Image(ImageContent {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
            meta: None,
        })
    }
    /// An audio block.
    pub fn audio(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Self::Audio(AudioContent {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
            meta: None,
        })
    }
    /// A link to a resource, by URI and name.
    pub fn resource_link(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self::ResourceLink(ResourceLink::new(uri, name))
    }
    /// An embedded resource block.
    pub fn resource(contents: ResourceContents) -> Self {
        Self::Resource(EmbeddedResource {
            resource: contents,
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

/// Text content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextContent {
    /// The text.
    pub text: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Image content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageContent {
    /// Base64 data.
    pub data: String,
    /// MIME type.
    pub mime_type: String,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Audio content.
pub type AudioContent = ImageContent;

/// A link to a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
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

/// A resource embedded in content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedResource {
    /// The contents.
    pub resource: ResourceContents,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

impl TextContent {
    /// Text without annotations.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            annotations: None,
            meta: None,
        }
    }
}

with_setters!(TextContent {
    /// Set the annotations.
    with_annotations => annotations: Annotations,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ImageContent {
    /// Base64 `data` of type `mime_type` (an image, or audio as [`AudioContent`]).
    pub fn new(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            mime_type: mime_type.into(),
            annotations: None,
            meta: None,
        }
    }
}

with_setters!(ImageContent {
    /// Set the annotations.
    with_annotations => annotations: Annotations,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl ResourceLink {
    /// A link by URI and name; add the optional fields with the `with_*` methods.
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

with_setters!(ResourceLink {
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

impl EmbeddedResource {
    /// Embed these contents.
    pub fn new(resource: ResourceContents) -> Self {
        Self {
            resource,
            annotations: None,
            meta: None,
        }
    }
}

with_setters!(EmbeddedResource {
    /// Set the annotations.
    with_annotations => annotations: Annotations,
    /// Set `_meta`.
    with_meta => meta: JsonObject,
});

impl From<TextContent> for ContentBlock {
    fn from(c: TextContent) -> Self {
        Self::Text(c)
    }
}

/// An image block (build audio with [`ContentBlock::Audio`] or [`ContentBlock::audio`]: the two share a type).
impl From<ImageContent> for ContentBlock {
    fn from(c: ImageContent) -> Self {
        Self::Image(c)
    }
}

impl From<ResourceLink> for ContentBlock {
    fn from(c: ResourceLink) -> Self {
        Self::ResourceLink(c)
    }
}

impl From<EmbeddedResource> for ContentBlock {
    fn from(c: EmbeddedResource) -> Self {
        Self::Resource(c)
    }
}

impl From<String> for ContentBlock {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<&str> for ContentBlock {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

/// The contents of a resource: text or base64 blob, told apart by which member is present.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceContents {
    /// Text contents.
    Text {
        /// URI.
        uri: String,
        /// MIME type.
        mime_type: Option<String>,
        /// The text.
        text: String,
        /// Metadata.
        meta: Option<JsonObject>,
    },
    /// Binary contents.
    Blob {
        /// URI.
        uri: String,
        /// MIME type.
        mime_type: Option<String>,
        /// Base64 data.
        blob: String,
        /// Metadata.
        meta: Option<JsonObject>,
    },
}

impl ResourceContents {
    /// Text contents.
    pub fn text(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self::Text {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            text: text.into(),
            meta: None,
        }
    }
    /// Binary contents.
    pub fn blob(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        blob: impl Into<String>,
    ) -> Self {
        Self::Blob {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            blob: blob.into(),
            meta: None,
        }
    }
    /// Set `_meta`.
    #[must_use]
    pub fn with_meta(mut self, meta: JsonObject) -> Self {
        match &mut self {
            Self::Text { meta: m, .. } | Self::Blob { meta: m, .. } => *m = Some(meta),
        }
        self
    }
    /// The URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::Text { uri, .. } | Self::Blob { uri, .. } => uri,
        }
    }
}

impl Serialize for ResourceContents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = JsonObject::new();
        let (uri, mime, key, val, meta) = match self {
            Self::Text {
                uri,
                mime_type,
                text,
                meta,
            } => (uri, mime_type, "text", text, meta),
            Self::Blob {
                uri,
                mime_type,
                blob,
                meta,
            } => (uri, mime_type, "blob", blob, meta),
        };
        m.insert("uri".into(), Value::String(uri.clone()));
        if let Some(mt) = mime {
            m.insert("mimeType".into(), Value::String(mt.clone()));
        }
        m.insert(key.into(), Value::String(val.clone()));
        if let Some(meta) = meta {
            m.insert("_meta".into(), Value::Object(meta.clone()));
        }
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResourceContents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            uri: String,
            #[serde(default)]
            mime_type: Option<String>,
            #[serde(default)]
            text: Option<String>,
            #[serde(default)]
            blob: Option<String>,
            #[serde(rename = "_meta", default)]
            meta: Option<JsonObject>,
        }
        let r = Raw::deserialize(d)?;
        match (r.text, r.blob) {
            (Some(text), None) => Ok(Self::Text {
                uri: r.uri,
                mime_type: r.mime_type,
                text,
                meta: r.meta,
            }),
            (None, Some(blob)) => Ok(Self::Blob {
                uri: r.uri,
                mime_type: r.mime_type,
                blob,
                meta: r.meta,
            }),
            _ => Err(D::Error::custom(
                "resource contents need exactly one of `text` or `blob`",
            )),
        }
    }
}
