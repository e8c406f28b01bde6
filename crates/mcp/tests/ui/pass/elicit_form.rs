// The form derives through `mcp`: a flat struct with a choice enum and an optional field.
use mcp::server::ElicitForm as _;

#[derive(serde::Deserialize, schemars::JsonSchema, mcp::FormChoice)]
#[serde(rename_all = "lowercase")]
enum Size {
    Small,
    Large,
}

#[derive(serde::Deserialize, schemars::JsonSchema, mcp::ElicitForm)]
struct Order {
    /// How many.
    count: u32,
    size: Size,
    gift_note: Option<String>,
}

fn main() {
    let form = serde_json::to_value(Order::requested_schema().unwrap()).unwrap();
    assert_eq!(
        form["properties"]["size"]["enum"],
        serde_json::json!(["small", "large"])
    );
    assert_eq!(form["properties"]["count"]["description"], "How many.");
    assert_eq!(form["required"], serde_json::json!(["count", "size"]));
}
