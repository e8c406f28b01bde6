//! The MCP Apps extension, host side, against our server on both eras: the host declares it renders views
//! (the server's handler sees it), app-only tools stay out of the model's list, and a tool's `_meta.ui` parses.

use crate::common;

use mcp_client::{Client, VersionMode};
use mcp_protocol::types::{CallToolResult, Tool, UiVisibility};
use mcp_protocol::{Era, JsonObject};
use mcp_server::apps::{AppResource, AppTool, Apps};
use mcp_server::{Error, RequestContext, Server};
use serde_json::json;

const VIEW: &str = "ui://shop/cart.html";

fn server() -> Server {
    let apps = Apps::new()
        .resource(AppResource::new(
            VIEW,
            "cart",
            "<!doctype html><html></html>",
        ))
        .unwrap()
        .tool(
            Tool::new("show_cart", json!({"type": "object"})),
            AppTool::new(VIEW),
            |ctx: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text(if ctx.client_supports_apps() {
                    "view"
                } else {
                    "text"
                }))
            },
        )
        .unwrap()
        .tool(
            Tool::new("set_quantity", json!({"type": "object"})),
            AppTool::new(VIEW).app_only(),
            |_ctx: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("ok"))
            },
        )
        .unwrap();
    Server::builder("shop", "1.0.0")
        .apps(apps)
        .typed_tool(
            "plain",
            "No view",
            |_ctx, _: mcp_server::NoArgs| async move { Ok::<_, Error>("plain") },
        )
        .build()
}

async fn run(mode: VersionMode, era: Era) {
    let host = Client::builder()
        .version_mode(mode)
        .apps()
        .connect(common::duplex_server(server()))
        .await
        .unwrap();
    assert_eq!(host.era(), era);
    let mut all: Vec<String> = host
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    all.sort();
    assert_eq!(all, ["plain", "set_quantity", "show_cart"]);

    let mut for_model = host.list_tools_for_model().await.unwrap();
    for_model.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = for_model.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["plain", "show_cart"], "{mode:?}");

    let show = &for_model[1];
    let ui = show.ui_meta().expect("show_cart has _meta.ui");
    assert_eq!(ui.resource_uri.as_deref(), Some(VIEW));
    assert_eq!(ui.visibility, None);
    assert_eq!(show.ui_resource_uri().as_deref(), Some(VIEW));
    assert!(for_model[0].ui_meta().is_none());
    let set = host
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "set_quantity")
        .unwrap();
    assert_eq!(
        set.ui_meta().unwrap().visibility,
        Some(vec![UiVisibility::App])
    );

    // The view itself is an ordinary resource read.
    let read = host.read_resource(VIEW).await.unwrap();
    assert_eq!(read.contents[0].uri(), VIEW);

    let r = host.call_tool("show_cart", json!({})).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("view"), "{mode:?}");
    // An app-only tool is still callable (by the view, through the host).
    let r = host.call_tool("set_quantity", json!({})).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("ok"));

    let text_only = Client::builder()
        .version_mode(mode)
        .connect(common::duplex_server(server()))
        .await
        .unwrap();
    let r = text_only.call_tool("show_cart", json!({})).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("text"), "{mode:?}");
}

#[tokio::test]
async fn app_only_tools_are_hidden_from_the_model_modern() {
    run(VersionMode::Auto, Era::Modern).await;
}

#[tokio::test]
async fn app_only_tools_are_hidden_from_the_model_legacy() {
    run(VersionMode::Legacy, Era::Legacy).await;
}
