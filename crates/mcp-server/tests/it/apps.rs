//! The MCP Apps extension on the wire, both eras: the view as a `ui://` resource with its `_meta.ui`, the tool
//! pointing at it (nested and legacy flat keys, visibility), the extension declared, the text fallback for a
//! client that renders no views, and bad configuration refused before the server is built.

use crate::support;

use mcp_protocol::types::{CallToolResult, Tool, UiPermissions};
use mcp_protocol::JsonObject;
use mcp_server::apps::{AppError, AppResource, AppTool, Apps};
use mcp_server::{Error, RequestContext, Server};
use serde_json::{json, Value};
use support::{connect, modern_request};

const VIEW: &str = "ui://weather/view.html";
const HTML: &str = "<!doctype html><html><body><div id=app></div></body></html>";
const MIME: &str = "text/html;profile=mcp-app";

fn apps_caps() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": [MIME]}}})
}

fn server() -> Server {
    let apps = Apps::new()
        .resource(
            AppResource::new(VIEW, "weather_view", HTML)
                .description("Today's weather, drawn")
                .connect_domain("https://api.weather.example")
                .resource_domain("https://cdn.example.com")
                .frame_domain("https://maps.example.com")
                .base_uri_domain("https://cdn.example.com")
                .permissions(UiPermissions {
                    geolocation: Some(JsonObject::new()),
                    ..Default::default()
                })
                .domain("weather.example-content.com")
                .prefers_border(true),
        )
        .unwrap()
        .tool(
            Tool::new("get_weather", json!({"type": "object"})).with_description("Today's weather"),
            AppTool::new(VIEW),
            |ctx: RequestContext, _args: JsonObject| async move {
                let text = if ctx.client_supports_apps() {
                    "Oslo: 4 °C (in the view)"
                } else {
                    "Oslo: 4 °C, cloudy, wind 3 m/s"
                };
                Ok::<_, Error>(
                    CallToolResult::text(text).with_structured_content(json!({"tempC": 4})),
                )
            },
        )
        .unwrap()
        .tool(
            Tool::new("refresh", json!({"type": "object"})),
            AppTool::new(VIEW).app_only(),
            // Structured data only: the text the model and text-only hosts read is derived from it.
            |_ctx: RequestContext, _args: JsonObject| async move {
                Ok::<_, Error>(
                    CallToolResult::default().with_structured_content(json!({"tempC": 5})),
                )
            },
        )
        .unwrap()
        .tool(
            Tool::new("chart", json!({"type": "object"})),
            AppTool::new(VIEW).model_only(),
            // Nothing but the view: a client that renders none is told so.
            |_ctx: RequestContext, _args: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::default())
            },
        )
        .unwrap();
    Server::builder("apps-test", "1.0.0").apps(apps).build()
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name} in {list}"))
}

fn expected_ui() -> Value {
    json!({
        "csp": {
            "connectDomains": ["https://api.weather.example"],
            "resourceDomains": ["https://cdn.example.com"],
            "frameDomains": ["https://maps.example.com"],
            "baseUriDomains": ["https://cdn.example.com"]
        },
        "permissions": {"geolocation": {}},
        "domain": "weather.example-content.com",
        "prefersBorder": true
    })
}

/// What both eras must show: the tools' `_meta`, the listed resource and the read contents, exactly.
fn assert_wire(tools: &Value, resources: &Value, read: &Value) {
    assert_eq!(
        tool(tools, "get_weather")["_meta"],
        json!({"ui": {"resourceUri": VIEW}, "ui/resourceUri": VIEW}),
        "{tools}"
    );
    assert_eq!(
        tool(tools, "refresh")["_meta"],
        json!({"ui": {"resourceUri": VIEW, "visibility": ["app"]}, "ui/resourceUri": VIEW}),
        "{tools}"
    );
    assert_eq!(
        tool(tools, "chart")["_meta"]["ui"]["visibility"],
        json!(["model"]),
        "{tools}"
    );
    assert_eq!(
        resources["result"]["resources"],
        json!([{
            "uri": VIEW,
            "name": "weather_view",
            "description": "Today's weather, drawn",
            "mimeType": MIME,
            "_meta": {"ui": expected_ui()}
        }]),
        "{resources}"
    );
    assert_eq!(
        read["result"]["contents"],
        json!([{"uri": VIEW, "mimeType": MIME, "text": HTML, "_meta": {"ui": expected_ui()}}]),
        "{read}"
    );
}

#[tokio::test]
async fn legacy_wire_shapes_and_declared_extension() {
    let mut p = connect(server());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": apps_caps(),
        "clientInfo": {"name": "host", "version": "1"}}});
    let r = p.call(init).await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        json!({"mimeTypes": [MIME]}),
        "{r}"
    );
    p.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let tools = p
        .call(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    let resources = p
        .call(json!({"jsonrpc": "2.0", "id": 2, "method": "resources/list"}))
        .await;
    let read = p
        .call(
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": VIEW}}),
        )
        .await;
    assert_wire(&tools, &resources, &read);
    // The session's host declared the extension at initialize: the handler knows.
    let r = p
        .call(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_weather", "arguments": {}}}))
        .await;
    assert_eq!(
        r["result"]["content"][0]["text"], "Oslo: 4 °C (in the view)",
        "{r}"
    );
}

#[tokio::test]
async fn modern_wire_shapes_and_declared_extension() {
    let mut p = connect(server());
    let r = p
        .call(modern_request(1, "server/discover", json!({}), json!({})))
        .await;
    assert_eq!(
        r["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        json!({"mimeTypes": [MIME]}),
        "{r}"
    );
    let tools = p
        .call(modern_request(2, "tools/list", json!({}), apps_caps()))
        .await;
    let resources = p
        .call(modern_request(3, "resources/list", json!({}), apps_caps()))
        .await;
    let read = p
        .call(modern_request(
            4,
            "resources/read",
            json!({"uri": VIEW}),
            apps_caps(),
        ))
        .await;
    assert_wire(&tools, &resources, &read);
    let r = p
        .call(modern_request(
            5,
            "tools/call",
            json!({"name": "get_weather", "arguments": {}}),
            apps_caps(),
        ))
        .await;
    assert_eq!(
        r["result"]["content"][0]["text"], "Oslo: 4 °C (in the view)",
        "{r}"
    );
    assert_eq!(r["result"]["structuredContent"], json!({"tempC": 4}), "{r}");
}

#[tokio::test]
async fn a_client_without_the_extension_gets_text() {
    let mut p = connect(server());
    // Declaring the extension without the HTML MIME type is not rendering views.
    for (id, caps) in [
        (1, json!({})),
        (
            2,
            json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/plain"]}}}),
        ),
    ] {
        let r = p
            .call(modern_request(
                id,
                "tools/call",
                json!({"name": "get_weather", "arguments": {}}),
                caps,
            ))
            .await;
        assert_eq!(
            r["result"]["content"],
            json!([{"type": "text", "text": "Oslo: 4 °C, cloudy, wind 3 m/s"}]),
            "{r}"
        );
    }
    let r = p
        .call(modern_request(
            3,
            "tools/call",
            json!({"name": "refresh", "arguments": {}}),
            json!({}),
        ))
        .await;
    assert_eq!(
        r["result"]["content"],
        json!([{"type": "text", "text": "{\"tempC\":5}"}]),
        "{r}"
    );
    let r = p
        .call(modern_request(
            4,
            "tools/call",
            json!({"name": "chart", "arguments": {}}),
            json!({}),
        ))
        .await;
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains(VIEW) && text.contains("does not display"),
        "{r}"
    );
    // A host that renders views gets no such note: the view is the answer.
    let r = p
        .call(modern_request(
            5,
            "tools/call",
            json!({"name": "chart", "arguments": {}}),
            apps_caps(),
        ))
        .await;
    assert_eq!(r["result"]["content"], json!([]), "{r}");

    // A legacy session that did not declare it.
    let mut p = connect(server());
    p.call(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cli", "version": "1"}}}))
        .await;
    p.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let r = p
        .call(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_weather", "arguments": {}}}))
        .await;
    assert_eq!(
        r["result"]["content"][0]["text"], "Oslo: 4 °C, cloudy, wind 3 m/s",
        "{r}"
    );
}

fn noop() -> impl mcp_server::ToolHandler {
    |_ctx: RequestContext, _args: JsonObject| async move { Ok::<_, Error>(CallToolResult::text("")) }
}

#[test]
fn bad_configuration_is_refused_before_serving() {
    let res = |uri: &str| Apps::new().resource(AppResource::new(uri, "v", HTML));
    for uri in [
        "https://example.com/view.html",
        "ui://",
        "ui:/x",
        "ui://a b",
        "view.html",
    ] {
        let err = res(uri).unwrap_err();
        assert!(matches!(err, AppError::NotUiUri { .. }), "{uri}: {err}");
        assert!(err.to_string().contains("ui://"), "{err}");
    }
    assert!(matches!(
        Apps::new().resource(AppResource::new(VIEW, "v", "  ")),
        Err(AppError::EmptyHtml { .. })
    ));
    let err = Apps::new()
        .resource(AppResource::new(VIEW, "v", HTML).connect_domain("https://a.com; script-src *"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            AppError::BadOrigin {
                field: "connectDomains",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        Apps::new().resource(AppResource::new(VIEW, "v", HTML).domain("")),
        Err(AppError::BadDomain { .. })
    ));
    let one = || res(VIEW).unwrap();
    assert!(matches!(
        one().resource(AppResource::new(VIEW, "again", HTML)),
        Err(AppError::DuplicateResource { .. })
    ));
    let t = || Tool::new("t", json!({"type": "object"}));
    let err = one()
        .tool(t(), AppTool::new("ui://weather/other.html"), noop())
        .unwrap_err();
    assert!(matches!(err, AppError::UnknownResource { .. }), "{err}");
    assert!(matches!(
        one().tool(t(), AppTool::new(VIEW).visibility([]), noop()),
        Err(AppError::BadVisibility { .. })
    ));
    let mut odd = t();
    odd.meta = Some(serde_json::from_value(json!({"ui": "nope"})).unwrap());
    assert!(matches!(
        one().tool(odd, AppTool::new(VIEW), noop()),
        Err(AppError::BadToolMeta { .. })
    ));
    assert!(matches!(
        one()
            .tool(t(), AppTool::new(VIEW), noop())
            .unwrap()
            .tool(t(), AppTool::new(VIEW), noop()),
        Err(AppError::DuplicateTool { .. })
    ));
    // A tool's own `_meta` keys survive the link.
    let mut tagged = t();
    tagged.meta = Some(
        serde_json::from_value(json!({"com.example/owner": "team-a", "ui": {"x": 1}})).unwrap(),
    );
    let server = Server::builder("s", "1")
        .apps(one().tool(tagged, AppTool::new(VIEW), noop()).unwrap())
        .build();
    assert_eq!(
        Value::Object(server.tools()[0].meta.clone().unwrap()),
        json!({"com.example/owner": "team-a", "ui": {"x": 1, "resourceUri": VIEW}, "ui/resourceUri": VIEW})
    );
}
