//! A typed payload (a result, params, a content block...) as a peer sends it inside a message.

use mcp::types::*;

/// Parse `json` as `T`; if it parses, what we write for it must parse back to the same `T`, both from a
/// `Value` and from text (a peer reads what we write as text).
fn round_trip<T>(json: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(t) = serde_json::from_slice::<T>(json) else {
        return;
    };
    let name = std::any::type_name::<T>();
    let text = serde_json::to_string(&t)
        .unwrap_or_else(|e| panic!("{name} {t:?} does not serialize: {e}"));
    let from_text = serde_json::from_str::<T>(&text);
    assert_eq!(
        from_text.as_ref().ok(),
        Some(&t),
        "{name}: {text} from {:?}",
        String::from_utf8_lossy(json)
    );
    // Through a `Value` (a map's order is not kept there, so what is compared is what it writes again).
    let v = serde_json::to_value(&t).expect("serializes, as above");
    let again = serde_json::from_value::<T>(v.clone())
        .unwrap_or_else(|e| panic!("{name}: {v} does not parse back from a Value: {e}"));
    assert_eq!(serde_json::to_value(&again).ok(), Some(v), "{name}");
}

macro_rules! types {
    ($($t:ident),* $(,)?) => {
        /// The payload types checked, by name (the official examples' folder names where they match).
        pub const NAMES: &[&str] = &[$(stringify!($t)),*];
        const CHECKS: &[fn(&[u8])] = &[$(round_trip::<$t>),*];
    };
}

types!(
    CallToolResult,
    CallToolParams,
    Tool,
    ListToolsResult,
    ContentBlock,
    TextContent,
    ImageContent,
    ResourceLink,
    EmbeddedResource,
    ResourceContents,
    Resource,
    ResourceTemplate,
    ReadResourceResult,
    ListResourcesResult,
    Prompt,
    GetPromptResult,
    PromptMessage,
    InitializeParams,
    InitializeResult,
    DiscoverResult,
    ClientCapabilities,
    ServerCapabilities,
    Implementation,
    ElicitRequestParams,
    ElicitResult,
    PrimitiveSchemaDefinition,
    RequestedSchema,
    CreateMessageParams,
    CreateMessageResult,
    SamplingMessage,
    InputRequest,
    InputResponse,
    InputRequiredResult,
    CompleteParams,
    CompleteResult,
    LoggingMessageParams,
    ProgressParams,
    CancelledParams,
    ListenParams,
    Task,
    ToolAnnotations,
    Root,
    ListRootsResult,
    ModelPreferences,
);

/// The first byte of `data` picks the type, the rest is its JSON.
pub fn payload(data: &[u8]) {
    if let [pick, json @ ..] = data {
        CHECKS[usize::from(*pick) % CHECKS.len()](json);
    }
}

/// Seeds: each official 2026-07-28 example whose folder names one of [`NAMES`], when `shared/` is beside
/// the repository, and a few of our own.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        ("CallToolResult", r#"{"content":[{"type":"text","text":"x","annotations":{"priority":0.5}}],"structuredContent":{"a":1},"isError":false,"_meta":{"k":[]}}"#),
        ("Tool", r#"{"name":"t","inputSchema":{"type":"object","properties":{"a":{"type":"number"}}},"annotations":{"readOnlyHint":true},"icons":[{"src":"data:,"}]}"#),
        ("ContentBlock", r#"{"type":"resource","resource":{"uri":"a:b","blob":"AA=="}}"#),
        ("PrimitiveSchemaDefinition", r#"{"type":"string","enum":["a","b"],"enumNames":["A","B"]}"#),
        ("InputRequest", r#"{"method":"elicitation/create","params":{"mode":"form","message":"m","requestedSchema":{"type":"object","properties":{}}}}"#),
        ("ClientCapabilities", r#"{"roots":{"listChanged":true},"sampling":{},"extensions":{"io.modelcontextprotocol/ui":{}}}"#),
    ]
    .iter()
    .map(|(name, json)| seed(name, json.as_bytes()))
    .collect();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spec/2026-07-28/examples");
    for name in NAMES {
        let Ok(dir) = std::fs::read_dir(examples.join(name)) else {
            continue;
        };
        for file in dir.flatten() {
            if let Ok(json) = std::fs::read(file.path()) {
                out.push(seed(name, &json));
            }
        }
    }
    out
}

fn seed(name: &str, json: &[u8]) -> Vec<u8> {
    let pick = NAMES
        .iter()
        .position(|n| *n == name)
        .expect("a listed type") as u8;
    let mut d = vec![pick];
    d.extend_from_slice(json);
    d
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_payload_we_parse_we_write_back_the_same() {
        crate::mutate::run(&super::seeds(), 20_000, super::payload);
    }
}
