//! The MCP Apps extension (`io.modelcontextprotocol/ui`, SEP-1865), server side: serve an HTML view as a
//! `ui://` resource and point tools at it, so a host that renders apps shows the tool's results in the view.
//!
//! Collect the views and their tools in an [`Apps`] (every piece is checked there, so a bad URI, origin or
//! link is an error at startup, not a surprise in a host), then hand it to [`ServerBuilder::apps`], which
//! declares the extension and registers them as ordinary resources and tools: nothing here reaches into the
//! core.
//!
//! ```
//! use mcp_server::apps::{AppResource, AppTool, Apps};
//! use mcp_server::{Error, RequestContext, Server};
//! use mcp_protocol::types::{CallToolResult, Tool};
//! use mcp_protocol::JsonObject;
//!
//! let apps = Apps::new()
//!     .resource(
//!         AppResource::new("ui://weather/view.html", "Weather view", "<!doctype html><html>…</html>")
//!             .connect_domain("https://api.weather.example")
//!             .prefers_border(true),
//!     )?
//!     .tool(
//!         Tool::new("get_weather", serde_json::json!({"type": "object"})).with_description("Today's weather"),
//!         AppTool::new("ui://weather/view.html"),
//!         |ctx: RequestContext, _args: JsonObject| async move {
//!             let data = serde_json::json!({"city": "Oslo", "tempC": 4});
//!             // Every client gets the text; a host that renders apps also shows it in the view.
//!             let text = if ctx.client_supports_apps() { "Oslo: 4 °C (see the view)" } else { "Oslo: 4 °C, cloudy" };
//!             Ok::<_, Error>(CallToolResult::text(text).with_structured_content(data))
//!         },
//!     )?;
//! let server = Server::builder("weather", "1.0.0").apps(apps).build();
//! assert_eq!(server.tools()[0].ui_resource_uri().as_deref(), Some("ui://weather/view.html"));
//! # Ok::<(), mcp_server::apps::AppError>(())
//! ```
//!
//! [`ServerBuilder::apps`]: crate::ServerBuilder::apps

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use mcp_protocol::types::{
    ui_settings_render_html, CallToolResult, ContentBlock, ReadResourceResult, Resource,
    ResourceContents, Tool, UiCsp, UiPermissions, UiResourceMeta, UiToolMeta, UiVisibility,
    APP_MIME_TYPE, LEGACY_RESOURCE_URI_KEY, UI_EXTENSION, UI_SCHEME,
};
use mcp_protocol::JsonObject;
use serde_json::{json, Value};

use crate::{Error, RequestContext, ServerBuilder, ToolHandler};

/// Why an app cannot be served: found when the [`Apps`] is put together, before the server starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// An app resource's URI is not `ui://<something>` (the spec reserves that scheme for views, and hosts
    /// ignore views under any other).
    #[error("app resource {uri:?}: the URI must be ui://<name> (no spaces or control characters)")]
    NotUiUri {
        /// The URI given.
        uri: String,
    },
    /// A view with no HTML.
    #[error("app resource {uri}: the HTML is empty")]
    EmptyHtml {
        /// The resource.
        uri: String,
    },
    /// A CSP origin that is not `scheme://host[:port][/path]` with scheme http, https, ws or wss, or that
    /// carries characters that would change the policy (spaces, `;`, `,`, quotes).
    #[error("app resource {uri}: {field} entry {value:?} is not an origin: {why}")]
    BadOrigin {
        /// The resource.
        uri: String,
        /// The field (`connectDomains`, `resourceDomains`, `frameDomains`, `baseUriDomains`).
        field: &'static str,
        /// The entry.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An empty `domain`, or one with spaces.
    #[error("app resource {uri}: domain {value:?} must be a non-empty host name without spaces")]
    BadDomain {
        /// The resource.
        uri: String,
        /// The domain given.
        value: String,
    },
    /// Two app resources with one URI.
    #[error("app resource {uri} is added twice")]
    DuplicateResource {
        /// The URI.
        uri: String,
    },
    /// A tool points at a view this [`Apps`] does not serve (the spec requires the resource to exist).
    #[error("app tool {tool}: {uri} is not an app resource of this server; add it with Apps::resource first")]
    UnknownResource {
        /// The tool.
        tool: String,
        /// The URI it points at.
        uri: String,
    },
    /// A tool whose visibility is empty (callable by no one) or names an unknown caller.
    #[error("app tool {tool}: visibility must list \"model\" and/or \"app\" and nothing else")]
    BadVisibility {
        /// The tool.
        tool: String,
    },
    /// A tool whose `_meta.ui` is already set to something other than an object.
    #[error("app tool {tool}: its _meta.ui is not an object")]
    BadToolMeta {
        /// The tool.
        tool: String,
    },
    /// Two app tools with one name.
    #[error("app tool {tool} is added twice")]
    DuplicateTool {
        /// The tool.
        tool: String,
    },
}

/// An app's view: HTML served as a `ui://` resource of type `text/html;profile=mcp-app`, with the content
/// security policy, permissions, origin and border it asks the host for (its `_meta.ui`, written on the
/// `resources/list` entry, for review at connection time, and on the content `resources/read` returns).
///
/// ```
/// use mcp_server::apps::{AppError, AppResource, Apps};
/// use mcp_protocol::types::UiPermissions;
///
/// let view = AppResource::new("ui://maps/view.html", "map", "<!doctype html><html>…</html>")
///     .resource_domain("https://*.tiles.example")   // csp.resourceDomains
///     .frame_domain("https://www.youtube.com")      // csp.frameDomains
///     .permissions(UiPermissions { geolocation: Some(Default::default()), ..Default::default() })
///     .prefers_border(false);
/// assert!(Apps::new().resource(view).is_ok());
///
/// // A CSP entry that would smuggle a directive in is refused before the server starts.
/// let bad = AppResource::new("ui://maps/view.html", "map", "<html></html>")
///     .connect_domain("https://api.example; script-src *");
/// assert!(matches!(Apps::new().resource(bad), Err(AppError::BadOrigin { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct AppResource {
    uri: String,
    name: String,
    title: Option<String>,
    description: Option<String>,
    html: Arc<str>,
    ui: UiResourceMeta,
}

fn push(list: &mut Option<Vec<String>>, v: impl Into<String>) {
    list.get_or_insert_with(Vec::new).push(v.into());
}

impl AppResource {
    /// The view at `uri` (`ui://…`), named `name`, whose document is `html`. Checked by [`Apps::resource`].
    pub fn new(uri: impl Into<String>, name: impl Into<String>, html: impl Into<Arc<str>>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            html: html.into(),
            ui: UiResourceMeta::default(),
        }
    }
    /// A display title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// What the view shows.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Let the view fetch from, or open a WebSocket to, `origin` (`connectDomains`, CSP `connect-src`).
    #[must_use]
    pub fn connect_domain(mut self, origin: impl Into<String>) -> Self {
        push(&mut self.csp().connect_domains, origin);
        self
    }
    /// Let the view load scripts, styles, images, fonts and media from `origin` (`resourceDomains`;
    /// `https://*.example.com` covers subdomains).
    #[must_use]
    pub fn resource_domain(mut self, origin: impl Into<String>) -> Self {
        push(&mut self.csp().resource_domains, origin);
        self
    }
    /// Let the view embed iframes from `origin` (`frameDomains`, CSP `frame-src`).
    #[must_use]
    pub fn frame_domain(mut self, origin: impl Into<String>) -> Self {
        push(&mut self.csp().frame_domains, origin);
        self
    }
    /// Allow `origin` as the document's base URI (`baseUriDomains`, CSP `base-uri`).
    #[must_use]
    pub fn base_uri_domain(mut self, origin: impl Into<String>) -> Self {
        push(&mut self.csp().base_uri_domains, origin);
        self
    }
    /// Ask for browser capabilities (camera, microphone, geolocation, clipboard write).
    #[must_use]
    pub fn permissions(mut self, permissions: UiPermissions) -> Self {
        self.ui.permissions = Some(permissions);
        self
    }
    /// A dedicated sandbox origin for the view, in the format the host documents.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.ui.domain = Some(domain.into());
        self
    }
    /// Whether the host should draw a border and background around the view (hosts differ when unset).
    #[must_use]
    pub fn prefers_border(mut self, prefers: bool) -> Self {
        self.ui.prefers_border = Some(prefers);
        self
    }

    fn csp(&mut self) -> &mut UiCsp {
        self.ui.csp.get_or_insert_with(UiCsp::default)
    }

    /// The `_meta` carrying `ui`, or `None` when the view asks for nothing.
    fn meta(&self) -> Option<JsonObject> {
        if self.ui == UiResourceMeta::default() {
            return None;
        }
        let mut meta = JsonObject::new();
        meta.insert("ui".into(), serde_json::to_value(&self.ui).ok()?);
        Some(meta)
    }

    fn check(&self) -> Result<(), AppError> {
        let uri = &self.uri;
        let rest = uri.strip_prefix(UI_SCHEME).unwrap_or_default();
        if rest.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AppError::NotUiUri { uri: uri.clone() });
        }
        if self.html.trim().is_empty() {
            return Err(AppError::EmptyHtml { uri: uri.clone() });
        }
        if let Some(csp) = &self.ui.csp {
            let fields = [
                ("connectDomains", &csp.connect_domains),
                ("resourceDomains", &csp.resource_domains),
                ("frameDomains", &csp.frame_domains),
                ("baseUriDomains", &csp.base_uri_domains),
            ];
            for (field, list) in fields {
                for value in list.iter().flatten() {
                    check_origin(value).map_err(|why| AppError::BadOrigin {
                        uri: uri.clone(),
                        field,
                        value: value.clone(),
                        why,
                    })?;
                }
            }
        }
        if let Some(d) = &self.ui.domain {
            if d.is_empty() || d.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(AppError::BadDomain {
                    uri: uri.clone(),
                    value: d.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A CSP source the host copies into a directive: anything that could end the directive or add a keyword would
/// loosen the policy, so only plain network origins pass.
fn check_origin(s: &str) -> Result<(), &'static str> {
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\'' | '"'))
    {
        return Err("spaces, ';', ',' and quotes are not allowed");
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err("it needs a scheme (https://, wss://, ...)");
    };
    if !matches!(scheme, "https" | "http" | "wss" | "ws") {
        return Err("the scheme must be https, http, wss or ws");
    }
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return Err("the port must be digits"),
        None => host_port,
    };
    let bare = host.strip_prefix("*.").unwrap_or(host);
    if bare.is_empty() || bare.contains('*') || bare.contains('@') {
        return Err("the host must be a name, optionally starting with *.");
    }
    Ok(())
}

/// How a tool links to its view: the view's URI and who may call the tool.
///
/// ```
/// use mcp_server::apps::AppTool;
/// use mcp_protocol::types::UiVisibility;
/// let for_both = AppTool::new("ui://shop/cart.html"); // visibility left to the default, model and app
/// let buttons = AppTool::new("ui://shop/cart.html").app_only();
/// let explicit = AppTool::new("ui://shop/cart.html").visibility([UiVisibility::Model, UiVisibility::App]);
/// # let _ = (for_both, buttons, explicit);
/// ```
#[derive(Debug, Clone)]
pub struct AppTool {
    resource_uri: String,
    visibility: Option<Vec<UiVisibility>>,
}

impl AppTool {
    /// A tool whose results the view at `resource_uri` renders, callable by the model and the view (the
    /// spec's default, so no `visibility` is written).
    pub fn new(resource_uri: impl Into<String>) -> Self {
        Self {
            resource_uri: resource_uri.into(),
            visibility: None,
        }
    }
    /// Who may call the tool, written as `_meta.ui.visibility`.
    #[must_use]
    pub fn visibility(mut self, who: impl IntoIterator<Item = UiVisibility>) -> Self {
        self.visibility = Some(who.into_iter().collect());
        self
    }
    /// Only the view may call it (`["app"]`): a host keeps it out of the model's tool list. For the view's own
    /// buttons and forms.
    #[must_use]
    pub fn app_only(self) -> Self {
        self.visibility([UiVisibility::App])
    }
    /// Only the model may call it (`["model"]`): the view cannot.
    #[must_use]
    pub fn model_only(self) -> Self {
        self.visibility([UiVisibility::Model])
    }
}

/// Runs an app tool's handler and makes sure its result has text for the model and for hosts that show no
/// views: when the handler returned no `content`, its `structuredContent` as JSON text, or else a line saying
/// the result is in a view this client does not display.
struct AppToolHandler {
    inner: Arc<dyn ToolHandler>,
    view: Arc<str>,
}

impl ToolHandler for AppToolHandler {
    fn call(
        &self,
        ctx: RequestContext,
        args: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, Error>> {
        let renders = ctx.client_supports_apps();
        let view = self.view.clone();
        let fut = self.inner.call(ctx, args);
        async move {
            let mut r = fut.await?;
            if r.content.is_empty() {
                if let Some(s) = &r.structured_content {
                    r.content.push(ContentBlock::text(s.to_string()));
                } else if !renders {
                    r.content.push(ContentBlock::text(format!(
                        "The result is shown in an interactive view ({view}) that this client does not display."
                    )));
                }
            }
            Ok(r)
        }
        .boxed()
    }
}

struct AppToolEntry {
    tool: Tool,
    handler: Arc<dyn ToolHandler>,
    view: Arc<str>,
}

/// A set of app views and the tools that point at them, checked as they are added; serve it with
/// [`ServerBuilder::apps`](crate::ServerBuilder::apps).
#[derive(Default)]
pub struct Apps {
    resources: Vec<AppResource>,
    tools: Vec<AppToolEntry>,
}

impl std::fmt::Debug for Apps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apps")
            .field(
                "resources",
                &self.resources.iter().map(|r| &r.uri).collect::<Vec<_>>(),
            )
            .field(
                "tools",
                &self.tools.iter().map(|t| &t.tool.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Apps {
    /// No views yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a view.
    ///
    /// # Errors
    ///
    /// When its URI is not `ui://…`, its HTML is empty, a CSP entry is not a plain origin, its `domain` is
    /// empty or has spaces, or a view with that URI was already added.
    pub fn resource(mut self, resource: AppResource) -> Result<Self, AppError> {
        resource.check()?;
        if self.resources.iter().any(|r| r.uri == resource.uri) {
            return Err(AppError::DuplicateResource { uri: resource.uri });
        }
        self.resources.push(resource);
        Ok(self)
    }

    /// Add a tool whose results the view named in `ui` renders. Its `_meta` gains `ui.resourceUri` (and
    /// `ui.visibility` when set) and the legacy flat `ui/resourceUri` key; other `_meta` keys are kept. The
    /// handler's result gets a text block when it has none (see the module docs).
    ///
    /// # Errors
    ///
    /// When the view was not added with [`Apps::resource`] first, the visibility is empty or names an unknown
    /// caller, the tool's `_meta.ui` is not an object, or a tool with that name was already added.
    pub fn tool(
        mut self,
        mut tool: Tool,
        ui: AppTool,
        handler: impl ToolHandler,
    ) -> Result<Self, AppError> {
        if !self.resources.iter().any(|r| r.uri == ui.resource_uri) {
            return Err(AppError::UnknownResource {
                tool: tool.name,
                uri: ui.resource_uri,
            });
        }
        if let Some(v) = &ui.visibility {
            let distinct: BTreeSet<String> = v.iter().cloned().map(String::from).collect();
            if v.is_empty()
                || distinct.len() != v.len()
                || v.iter().any(|w| matches!(w, UiVisibility::Other(_)))
            {
                return Err(AppError::BadVisibility { tool: tool.name });
            }
        }
        if self.tools.iter().any(|t| t.tool.name == tool.name) {
            return Err(AppError::DuplicateTool { tool: tool.name });
        }
        let meta = tool.meta.get_or_insert_with(JsonObject::new);
        let entry = meta
            .entry("ui")
            .or_insert_with(|| Value::Object(JsonObject::new()));
        let Some(ui_obj) = entry.as_object_mut() else {
            return Err(AppError::BadToolMeta { tool: tool.name });
        };
        let link = UiToolMeta {
            resource_uri: Some(ui.resource_uri.clone()),
            visibility: ui.visibility,
        };
        if let Ok(Value::Object(fields)) = serde_json::to_value(&link) {
            ui_obj.extend(fields);
        }
        meta.insert(
            LEGACY_RESOURCE_URI_KEY.into(),
            Value::String(ui.resource_uri.clone()),
        );
        self.tools.push(AppToolEntry {
            tool,
            handler: Arc::new(handler),
            view: ui.resource_uri.into(),
        });
        Ok(self)
    }
}

impl ServerBuilder {
    /// Serve `apps` (the MCP Apps extension): declares `io.modelcontextprotocol/ui` (with the view MIME type
    /// it serves) and registers each view as a resource and each of its tools. See the [`apps`](crate::apps)
    /// module.
    ///
    /// ```
    /// use mcp_server::apps::{AppResource, Apps};
    /// use mcp_server::Server;
    /// let apps = Apps::new().resource(AppResource::new("ui://a/view.html", "view", "<html></html>"))?;
    /// let server = Server::builder("s", "1.0.0").apps(apps).build();
    /// let declared = &server.capabilities().extensions.as_ref().unwrap()["io.modelcontextprotocol/ui"];
    /// assert_eq!(declared["mimeTypes"][0], "text/html;profile=mcp-app");
    /// # Ok::<(), mcp_server::apps::AppError>(())
    /// ```
    pub fn apps(self, apps: Apps) -> Self {
        let mut b = self.extension(UI_EXTENSION, json!({ "mimeTypes": [APP_MIME_TYPE] }));
        for r in apps.resources {
            let meta = r.meta();
            let mut listed =
                Resource::new(r.uri.clone(), r.name.clone()).with_mime_type(APP_MIME_TYPE);
            listed.title = r.title.clone();
            listed.description = r.description.clone();
            listed.meta = meta.clone();
            let html = r.html.clone();
            b = b.resource(listed, move |_ctx: RequestContext, uri: String| {
                let mut contents = ResourceContents::text(uri, APP_MIME_TYPE, &*html);
                if let Some(m) = &meta {
                    contents = contents.with_meta(m.clone());
                }
                async move { Ok::<_, Error>(ReadResourceResult::from(contents)) }
            });
        }
        for t in apps.tools {
            b = b.tool(
                t.tool,
                AppToolHandler {
                    inner: t.handler,
                    view: t.view,
                },
            );
        }
        b
    }
}

impl RequestContext {
    /// Whether the client of this request renders MCP Apps: it declares `io.modelcontextprotocol/ui` with
    /// `text/html;profile=mcp-app` among its `mimeTypes` (in `initialize` on a legacy session, in the request's
    /// `_meta` on 2026-07-28). When it does not, a tool's text `content` is all the user sees.
    ///
    /// ```
    /// use mcp_server::{Error, RequestContext};
    /// use mcp_protocol::types::CallToolResult;
    /// async fn report(ctx: RequestContext) -> Result<CallToolResult, Error> {
    ///     Ok(if ctx.client_supports_apps() {
    ///         CallToolResult::text("3 open incidents (listed in the view)")
    ///     } else {
    ///         CallToolResult::text("3 open incidents: db-latency, disk-full, cert-expiry")
    ///     })
    /// }
    /// # let _ = report;
    /// ```
    pub fn client_supports_apps(&self) -> bool {
        ui_settings_render_html(self.client_extension(UI_EXTENSION))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_plain_network_origins() {
        for ok in [
            "https://api.example.com",
            "wss://rt.example.com:8443",
            "https://*.cloudflare.com",
            "http://127.0.0.1:3000/static/",
        ] {
            assert_eq!(check_origin(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "api.example.com",
            "javascript://x",
            "https://",
            "https://*",
            "https://a.com; script-src *",
            "https://a.com 'unsafe-eval'",
            "https://a.com,https://b.com",
            "https://a.com:x",
            "https://user@a.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
