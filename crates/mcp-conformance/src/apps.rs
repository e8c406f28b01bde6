//! The MCP Apps fixture (`io.modelcontextprotocol/ui`): one view and two tools that use it, one of them for
//! the view only. Not exercised by the official suite; `.ci/apps.sh` checks it with the validation helpers and
//! schemas `@modelcontextprotocol/ext-apps` ships.

use mcp::protocol::types::{CallToolResult, Tool, UiPermissions};
use mcp::protocol::JsonObject;
use mcp::server::apps::{AppResource, AppTool, Apps};
use mcp::server::{Error, RequestContext};
use serde_json::json;

/// The view's URI.
pub const VIEW: &str = "ui://conformance/dashboard.html";

const HTML: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Dashboard</title></head>
<body>
<main id="out">Waiting for the tool result…</main>
<script>
  // The host sends the tool's result as ui/notifications/tool-result; show its structured content.
  window.addEventListener("message", (e) => {
    if (e.data && e.data.method === "ui/notifications/tool-result") {
      document.getElementById("out").textContent = JSON.stringify(e.data.params.structuredContent);
    }
  });
</script>
</body>
</html>
"#;

/// The view, its tool (`app_dashboard`, for the model and the view) and the view's own refresh button
/// (`app_refresh_dashboard`, app-only).
pub fn apps() -> Apps {
    Apps::new()
        .resource(
            AppResource::new(VIEW, "conformance_dashboard", HTML)
                .title("Dashboard")
                .description("Shows the dashboard tool's counters")
                .connect_domain("https://api.example.com")
                .resource_domain("https://cdn.example.com")
                .frame_domain("https://embed.example.com")
                .base_uri_domain("https://cdn.example.com")
                .permissions(UiPermissions {
                    clipboard_write: Some(JsonObject::new()),
                    ..Default::default()
                })
                .domain("conformance.example-usercontent.com")
                .prefers_border(true),
        )
        .and_then(|a| {
            a.tool(
                Tool::new("app_dashboard", json!({"type": "object"})).with_description(
                    "Counters, drawn as a dashboard where the host renders MCP Apps",
                ),
                AppTool::new(VIEW),
                |ctx: RequestContext, _args: JsonObject| async move {
                    let data = json!({"requests": 42, "errors": 0});
                    let text = if ctx.client_supports_apps() {
                        "42 requests, 0 errors (see the dashboard)"
                    } else {
                        "42 requests, 0 errors"
                    };
                    Ok::<_, Error>(CallToolResult::text(text).with_structured_content(data))
                },
            )
        })
        .and_then(|a| {
            a.tool(
                Tool::new("app_refresh_dashboard", json!({"type": "object"}))
                    .with_description("Refresh the dashboard's counters (called by the view)"),
                AppTool::new(VIEW).app_only(),
                |_ctx: RequestContext, _args: JsonObject| async move {
                    Ok::<_, Error>(
                        CallToolResult::default()
                            .with_structured_content(json!({"requests": 43, "errors": 0})),
                    )
                },
            )
        })
        .expect("the apps fixture is valid")
}
