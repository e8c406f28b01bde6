//! The MCP Apps extension (`io.modelcontextprotocol/ui`, SEP-1865), host side: declare that this host renders
//! HTML views, and keep app-only tools (a `_meta.ui.visibility` without `"model"`) out of the model's tool
//! list, as the spec requires of a host. A tool's typed `_meta.ui` is [`Tool::ui_meta`].

use mcp_protocol::types::{Tool, UiClientSettings, UI_EXTENSION};

use super::builder::ClientBuilder;
use super::handle::Client;
use crate::error::Error;

impl ClientBuilder {
    /// Declare the MCP Apps extension with `mimeTypes: ["text/html;profile=mcp-app"]`: this host renders app
    /// views, so servers may give their tools views and app-only companions.
    ///
    /// ```
    /// use mcp_client::Client;
    /// let builder = Client::builder().apps();
    /// # let _ = builder;
    /// ```
    pub fn apps(self) -> Self {
        let settings = serde_json::to_value(UiClientSettings::html()).unwrap_or_default();
        self.extension(UI_EXTENSION, settings)
    }
}

impl Client {
    /// Every tool the model may see: [`list_all_tools`](Client::list_all_tools) without the app-only ones
    /// (whose `_meta.ui.visibility` leaves out `"model"`), which only a view may call.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
    /// for tool in client.list_tools_for_model().await? {
    ///     let view = tool.ui_resource_uri(); // Some("ui://…") when a view renders its results
    ///     println!("{} {view:?}", tool.name);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`list_all_tools`](Client::list_all_tools).
    pub async fn list_tools_for_model(&self) -> Result<Vec<Tool>, Error> {
        let mut tools = self.list_all_tools().await?;
        tools.retain(Tool::visible_to_model);
        Ok(tools)
    }
}
