//! The MCP Apps extension (`io.modelcontextprotocol/ui`, SEP-1865): a server serves an HTML view as a `ui://`
//! resource (`text/html;profile=mcp-app`) and points a tool at it through the tool's `_meta.ui`; a host that
//! declares the extension renders the tool's results in that view, in a sandboxed iframe, under the content
//! security policy the resource's `_meta.ui.csp` asks for.
//!
//! These are the wire shapes shared by both sides, with the spec's field names.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ClientCapabilities, Tool};
use crate::JsonObject;

/// The extension's identifier, the key under `capabilities.extensions`.
pub const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The MIME type of an MCP App's HTML view, on its resource and on the content `resources/read` returns.
pub const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";
/// The scheme every app resource URI starts with.
pub const UI_SCHEME: &str = "ui://";
/// The flat tool `_meta` key older hosts read the view's URI from (deprecated by the spec in favour of
/// `_meta.ui.resourceUri`, still written so those hosts find the view).
pub const LEGACY_RESOURCE_URI_KEY: &str = "ui/resourceUri";

/// Who may call a tool: the model (it is in the agent's tool list) and/or the app's view.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum UiVisibility {
    /// `"model"`: listed to and callable by the agent.
    Model,
    /// `"app"`: callable by a view of the same server.
    App,
    /// A value this crate does not know, kept as sent.
    Other(String),
}

impl From<String> for UiVisibility {
    fn from(s: String) -> Self {
        match s.as_str() {
            "model" => Self::Model,
            "app" => Self::App,
            _ => Self::Other(s),
        }
    }
}

impl From<UiVisibility> for String {
    fn from(v: UiVisibility) -> Self {
        match v {
            UiVisibility::Model => "model".into(),
            UiVisibility::App => "app".into(),
            UiVisibility::Other(s) => s,
        }
    }
}

/// A tool's `_meta.ui`: the view that renders its results, and who may call it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiToolMeta {
    /// The `ui://` URI of the view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uri: Option<String>,
    /// Who may call the tool; absent means `["model", "app"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Vec<UiVisibility>>,
}

impl UiToolMeta {
    /// Whether the model may see and call the tool (no `visibility`, or one that lists `"model"`).
    pub fn visible_to_model(&self) -> bool {
        self.visibility
            .as_ref()
            .is_none_or(|v| v.contains(&UiVisibility::Model))
    }

    /// Whether a view may call the tool (no `visibility`, or one that lists `"app"`).
    pub fn visible_to_app(&self) -> bool {
        self.visibility
            .as_ref()
            .is_none_or(|v| v.contains(&UiVisibility::App))
    }
}

/// The origins an app's view may reach, each mapped by the host onto a CSP directive. An absent or empty list
/// means none (the host's restrictive default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiCsp {
    /// Origins for fetch, XHR and WebSocket (`connect-src`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_domains: Option<Vec<String>>,
    /// Origins for scripts, styles, images, fonts and media (`script-src`, `style-src`, `img-src`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_domains: Option<Vec<String>>,
    /// Origins for nested iframes (`frame-src`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_domains: Option<Vec<String>>,
    /// Allowed base URIs of the document (`base-uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_uri_domains: Option<Vec<String>>,
}

impl UiCsp {
    /// Every origin listed, whatever its directive.
    pub fn all_domains(&self) -> impl Iterator<Item = &str> {
        [
            &self.connect_domains,
            &self.resource_domains,
            &self.frame_domains,
            &self.base_uri_domains,
        ]
        .into_iter()
        .flatten()
        .flatten()
        .map(String::as_str)
    }
}

/// Browser capabilities a view asks the host for (iframe `allow`); each present member (`{}`) is one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiPermissions {
    /// Camera access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<JsonObject>,
    /// Microphone access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microphone: Option<JsonObject>,
    /// Geolocation access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geolocation: Option<JsonObject>,
    /// Clipboard write access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clipboard_write: Option<JsonObject>,
}

/// An app resource's `_meta.ui`: its content security policy, permissions, dedicated origin and border.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiResourceMeta {
    /// The origins the view may reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csp: Option<UiCsp>,
    /// The browser capabilities the view asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<UiPermissions>,
    /// A dedicated sandbox origin for the view (its format is the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Whether the view wants the host to draw a border and background around it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefers_border: Option<bool>,
}

/// What a host declares under `capabilities.extensions["io.modelcontextprotocol/ui"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UiClientSettings {
    /// The view MIME types it renders ([`APP_MIME_TYPE`] for HTML views).
    #[serde(default)]
    pub mime_types: Vec<String>,
}

impl UiClientSettings {
    /// The settings of a host that renders HTML views.
    pub fn html() -> Self {
        Self {
            mime_types: vec![APP_MIME_TYPE.to_owned()],
        }
    }
}

/// Whether settings declared for [`UI_EXTENSION`] list [`APP_MIME_TYPE`] (the spec's test for a host that
/// renders HTML views; declaring the extension without that MIME type is not enough).
pub fn ui_settings_render_html(settings: Option<&Value>) -> bool {
    settings
        .and_then(|s| s.get("mimeTypes"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|t| t.as_str() == Some(APP_MIME_TYPE)))
}

impl ClientCapabilities {
    /// Whether these client capabilities declare the apps extension with [`APP_MIME_TYPE`].
    ///
    /// ```
    /// use mcp_protocol::types::{ClientCapabilities, UI_EXTENSION};
    /// let mut caps = ClientCapabilities::default();
    /// assert!(!caps.renders_apps());
    /// caps.extensions.get_or_insert_with(Default::default)
    ///     .insert(UI_EXTENSION.into(), serde_json::json!({"mimeTypes": ["text/html;profile=mcp-app"]}));
    /// assert!(caps.renders_apps());
    /// ```
    pub fn renders_apps(&self) -> bool {
        ui_settings_render_html(self.extensions.as_ref().and_then(|e| e.get(UI_EXTENSION)))
    }
}

impl Tool {
    /// The tool's `_meta.ui`, with `resourceUri` taken from the legacy flat `_meta["ui/resourceUri"]` when only
    /// that is present. `None` when the tool has neither, or when `_meta.ui` is not an object of the spec's
    /// shape.
    ///
    /// ```
    /// use mcp_protocol::types::{Tool, UiVisibility};
    /// let tool: Tool = serde_json::from_value(serde_json::json!({
    ///     "name": "refresh", "inputSchema": {"type": "object"},
    ///     "_meta": {"ui": {"resourceUri": "ui://weather/view.html", "visibility": ["app"]}}
    /// })).unwrap();
    /// let ui = tool.ui_meta().unwrap();
    /// assert_eq!(ui.resource_uri.as_deref(), Some("ui://weather/view.html"));
    /// assert_eq!(ui.visibility, Some(vec![UiVisibility::App]));
    /// assert!(!tool.visible_to_model());
    /// ```
    pub fn ui_meta(&self) -> Option<UiToolMeta> {
        let meta = self.meta.as_ref()?;
        let mut ui = match meta.get("ui") {
            Some(v) => serde_json::from_value::<UiToolMeta>(v.clone()).ok()?,
            None => UiToolMeta::default(),
        };
        if ui.resource_uri.is_none() {
            ui.resource_uri = meta
                .get(LEGACY_RESOURCE_URI_KEY)
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        (ui.resource_uri.is_some() || ui.visibility.is_some() || meta.contains_key("ui"))
            .then_some(ui)
    }

    /// The `ui://` URI of the view that renders the tool's results, if it has one (a URI of another scheme is
    /// not a view and is ignored).
    pub fn ui_resource_uri(&self) -> Option<String> {
        self.ui_meta()?
            .resource_uri
            .filter(|u| u.starts_with(UI_SCHEME))
    }

    /// Whether the tool belongs in the model's tool list: true unless its `_meta.ui.visibility` leaves out
    /// `"model"` (an app-only tool, which a host must not show to the model).
    pub fn visible_to_model(&self) -> bool {
        self.ui_meta().is_none_or(|ui| ui.visible_to_model())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_meta_uses_the_spec_field_names() {
        let meta = UiResourceMeta {
            csp: Some(UiCsp {
                connect_domains: Some(vec!["https://api.example.com".into()]),
                resource_domains: Some(vec!["https://cdn.example.com".into()]),
                frame_domains: Some(vec!["https://www.youtube.com".into()]),
                base_uri_domains: Some(vec!["https://cdn.example.com".into()]),
            }),
            permissions: Some(UiPermissions {
                clipboard_write: Some(JsonObject::new()),
                ..Default::default()
            }),
            domain: Some("a9.example-content.com".into()),
            prefers_border: Some(false),
        };
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            json!({
                "csp": {
                    "connectDomains": ["https://api.example.com"],
                    "resourceDomains": ["https://cdn.example.com"],
                    "frameDomains": ["https://www.youtube.com"],
                    "baseUriDomains": ["https://cdn.example.com"]
                },
                "permissions": {"clipboardWrite": {}},
                "domain": "a9.example-content.com",
                "prefersBorder": false
            })
        );
    }

    #[test]
    fn visibility_defaults_to_both_and_keeps_unknown_values() {
        let tool = |meta: Value| -> Tool {
            serde_json::from_value(json!({"name": "t", "inputSchema": {}, "_meta": meta})).unwrap()
        };
        assert!(tool(json!({})).visible_to_model());
        assert!(tool(json!({"ui": {"resourceUri": "ui://a"}})).visible_to_model());
        assert!(!tool(json!({"ui": {"visibility": ["app"]}})).visible_to_model());
        assert!(tool(json!({"ui": {"visibility": ["model"]}})).visible_to_model());
        let odd = tool(json!({"ui": {"visibility": ["app", "later"]}}));
        assert_eq!(
            odd.ui_meta().unwrap().visibility.unwrap()[1],
            UiVisibility::Other("later".into())
        );
        assert!(!odd.visible_to_model());
        // The legacy flat key alone still names the view; a non-ui:// URI is not a view.
        let legacy = tool(json!({"ui/resourceUri": "ui://old/view"}));
        assert_eq!(legacy.ui_resource_uri().as_deref(), Some("ui://old/view"));
        assert_eq!(
            tool(json!({"ui": {"resourceUri": "https://x"}})).ui_resource_uri(),
            None
        );
    }

    #[test]
    fn html_support_needs_the_mime_type() {
        assert!(ui_settings_render_html(Some(
            &json!({"mimeTypes": [APP_MIME_TYPE]})
        )));
        assert!(!ui_settings_render_html(Some(&json!({}))));
        assert!(!ui_settings_render_html(Some(
            &json!({"mimeTypes": ["text/html"]})
        )));
        assert!(!ui_settings_render_html(None));
    }
}
