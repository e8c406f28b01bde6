//! Messages built with our types validate against the official `schema.json` of every revision we claim
//! (2025-03-26 and 2025-06-18: draft-07 `definitions`; 2025-11-25 and 2026-07-28: 2020-12 `$defs`).
//!
//! Each case names a schema type and builds a value for a given revision the way an SDK peer speaking that
//! revision would (e.g. `resultType` and `ttlMs`/`cacheScope` only on 2026-07-28, `resource_link` only from
//! 2025-06-18). A case is validated against every revision whose schema defines that type and for which the
//! builder produces a value. Negative cases prove that the validator really rejects bad messages.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use mcp_protocol::types::indexmap_like::OrderedMap;
use mcp_protocol::types::{methods, *};
use mcp_protocol::{
    error_code, meta, ErrorObject, ErrorResponse, JsonObject, Notification, ProtocolVersion,
    Request,
};
use serde::Serialize;
use serde_json::{json, Value};

use ProtocolVersion::{
    V2025_03_26 as R0326, V2025_06_18 as R0618, V2025_11_25 as R1125, V2026_07_28 as R0728,
};

/// The revisions whose schemas we check against.
const REVISIONS: [ProtocolVersion; 4] = [R0326, R0618, R1125, R0728];

struct Revision {
    version: ProtocolVersion,
    doc: Value,
    defs: &'static str,
    validators: HashMap<String, jsonschema::Validator>,
}

impl Revision {
    fn load(spec: &Path, version: ProtocolVersion) -> Self {
        let path = spec.join(version.as_str()).join("schema.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).unwrap();
        let defs = if doc.get("$defs").is_some() {
            "$defs"
        } else {
            "definitions"
        };
        assert!(doc[defs].is_object(), "{}: no {defs}", path.display());
        Self {
            version,
            doc,
            defs,
            validators: HashMap::new(),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.doc[self.defs].get(name).is_some()
    }

    /// The validator for `#/<defs>/<name>`: the whole document (so every `$ref` resolves) with an `allOf`
    /// pointing at the definition (`allOf` rather than a sibling `$ref`, which draft-07 ignores).
    fn validator(&mut self, name: &str) -> &jsonschema::Validator {
        let (doc, defs) = (&self.doc, self.defs);
        self.validators.entry(name.to_owned()).or_insert_with(|| {
            let mut schema = doc.clone();
            schema["allOf"] = json!([{ "$ref": format!("#/{defs}/{name}") }]);
            jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("schema for {name}: {e}"))
        })
    }

    fn errors(&mut self, name: &str, instance: &Value) -> Vec<String> {
        self.validator(name)
            .iter_errors(instance)
            .map(|e| format!("{e} (at {:?})", e.instance_path.as_str()))
            .collect()
    }
}

fn load_revisions() -> Option<Vec<Revision>> {
    let spec = common::spec_root("schema")?;
    Some(
        REVISIONS
            .iter()
            .map(|v| Revision::load(&spec, *v))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Building blocks, written the way a server or client of revision `v` would write them.

fn modern(v: ProtocolVersion) -> bool {
    v == R0728
}

fn val<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serializes")
}

/// A result as sent on revision `v`: `resultType: complete` on 2026-07-28.
fn result<T: Serialize>(v: ProtocolVersion, t: T) -> Value {
    if modern(v) {
        val(&Outcome::Complete(t))
    } else {
        val(&t)
    }
}

/// A cacheable result: on 2026-07-28 also `ttlMs` and `cacheScope`, which the schema requires there.
fn cacheable<T: Serialize>(v: ProtocolVersion, t: T, ttl_ms: u64, scope: CacheScope) -> Value {
    if modern(v) {
        val(&Outcome::Complete(Cacheable::with_ttl(t, ttl_ms, scope)))
    } else {
        val(&Cacheable::new(t))
    }
}

fn obj(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Request `_meta`: required on 2026-07-28 (protocol version, client capabilities, client info).
fn request_meta(v: ProtocolVersion) -> Option<JsonObject> {
    modern(v).then(|| {
        obj(json!({
            meta::PROTOCOL_VERSION: v.as_str(),
            meta::CLIENT_CAPABILITIES: val(&client_capabilities(v)),
            meta::CLIENT_INFO: val(&Implementation::new("test-client", "1.0.0")),
            meta::PROGRESS_TOKEN: "tok-1",
        }))
    })
}

fn request<P: Serialize>(method: &str, params: &P) -> Value {
    val(&Request::new(7, method, Some(val(params))))
}

fn notification<P: Serialize>(method: &str, params: &P) -> Value {
    val(&Notification::new(method, Some(val(params))))
}

/// A server→client question: an MRTR input request on 2026-07-28, a JSON-RPC request before.
fn server_request(v: ProtocolVersion, r: InputRequest) -> Value {
    let wire = val(&r);
    if modern(v) {
        wire
    } else {
        val(&Request::new(
            "srv-1",
            r.method(),
            wire.get("params").cloned(),
        ))
    }
}

fn annotations(v: ProtocolVersion) -> Annotations {
    Annotations {
        audience: Some(vec![Role::User, Role::Assistant]),
        priority: Some(1.0),
        last_modified: (v >= R0618).then(|| "2025-05-03T14:30:00Z".to_owned()),
    }
}

fn icons(v: ProtocolVersion) -> Option<Vec<Icon>> {
    (v >= R1125).then(|| {
        vec![Icon {
            src: "https://example.com/icon.png".into(),
            mime_type: Some("image/png".into()),
            sizes: Some(vec!["48x48".into()]),
            theme: Some("light".into()),
        }]
    })
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/// Every content block the revision knows, with annotations.
fn content_blocks(v: ProtocolVersion) -> Vec<ContentBlock> {
    let mut text = ContentBlock::text("hello");
    if let ContentBlock::Text(t) = &mut text {
        t.annotations = Some(annotations(v));
    }
    let mut blocks = vec![
        text,
        ContentBlock::image(PNG, "image/png"),
        ContentBlock::audio(WAV, "audio/wav"),
        ContentBlock::resource(ResourceContents::text(
            "file:///project/src/main.rs",
            "text/x-rust",
            "fn main() {}",
        )),
        ContentBlock::resource(ResourceContents::blob(
            "file:///project/logo.png",
            "image/png",
            PNG,
        )),
    ];
    if v >= R0618 {
        blocks.push(ContentBlock::ResourceLink(ResourceLink {
            uri: "file:///project/README.md".into(),
            name: "README.md".into(),
            title: Some("Read me".into()),
            description: Some("Project documentation".into()),
            mime_type: Some("text/markdown".into()),
            size: Some(1024),
            icons: icons(v),
            annotations: Some(annotations(v)),
            meta: None,
        }));
    }
    blocks
}

fn client_capabilities(v: ProtocolVersion) -> ClientCapabilities {
    ClientCapabilities {
        roots: Some(RootsCapability {
            list_changed: (!modern(v)).then_some(true),
        }),
        sampling: Some(SamplingCapability {
            context: Some(JsonObject::new()),
            tools: (v >= R1125).then(JsonObject::new),
        }),
        elicitation: (v >= R0618).then(|| ElicitationCapability {
            form: Some(JsonObject::new()),
            url: (v >= R1125).then(JsonObject::new),
        }),
        extensions: modern(v)
            .then(|| obj(json!({"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html"]}}))),
        ..Default::default()
    }
}

fn server_capabilities(v: ProtocolVersion) -> ServerCapabilities {
    ServerCapabilities {
        logging: Some(JsonObject::new()),
        completions: Some(JsonObject::new()),
        prompts: Some(ListChangedCapability {
            list_changed: Some(true),
        }),
        resources: Some(ResourcesCapability {
            subscribe: Some(true),
            list_changed: Some(true),
        }),
        tools: Some(ListChangedCapability {
            list_changed: Some(true),
        }),
        extensions: modern(v).then(|| obj(json!({"io.modelcontextprotocol/tasks": {}}))),
        ..Default::default()
    }
}

fn tool(v: ProtocolVersion) -> Tool {
    Tool {
        name: "get_weather".into(),
        title: (v >= R0618).then(|| "Weather".into()),
        description: Some("Get the weather".into()),
        input_schema: json!({
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }),
        output_schema: (v >= R0618).then(|| {
            json!({"type": "object", "properties": {"temperature": {"type": "number"}}, "required": ["temperature"]})
        }),
        annotations: Some(ToolAnnotations {
            title: Some("Weather".into()),
            read_only_hint: Some(true),
            destructive_hint: Some(false),
            idempotent_hint: Some(true),
            open_world_hint: Some(true),
        }),
        execution: (v == R1125).then(|| ToolExecution {
            task_support: Some("optional".into()),
        }),
        icons: icons(v),
        meta: (v >= R0618).then(|| obj(json!({"com.example/origin": "test"}))),
    }
}

fn form_fields(v: ProtocolVersion) -> Vec<(&'static str, PrimitiveSchemaDefinition)> {
    let mut fields: Vec<(&'static str, PrimitiveSchemaDefinition)> = vec![
        (
            "name",
            StringSchema {
                title: Some("Name".into()),
                description: Some("Your name".into()),
                min_length: Some(1),
                max_length: Some(50),
                ..Default::default()
            }
            .into(),
        ),
        (
            "email",
            StringSchema {
                format: Some("email".into()),
                ..Default::default()
            }
            .into(),
        ),
        (
            "age",
            NumberSchema {
                r#type: NumberType::Integer,
                minimum: Some(18.0),
                maximum: Some(130.0),
                ..Default::default()
            }
            .into(),
        ),
        (
            "ratio",
            NumberSchema {
                minimum: Some(0.0),
                maximum: Some(1.0),
                ..Default::default()
            }
            .into(),
        ),
        (
            "subscribe",
            BooleanSchema {
                title: Some("Subscribe".into()),
                ..Default::default()
            }
            .into(),
        ),
        (
            "color",
            UntitledSingleSelectEnumSchema {
                values: vec!["red".into(), "green".into()],
                ..Default::default()
            }
            .into(),
        ),
    ];
    if v == R0618 {
        fields.push((
            "size",
            LegacyTitledEnumSchema {
                values: vec!["s".into(), "m".into()],
                enum_names: Some(vec!["Small".into(), "Medium".into()]),
                ..Default::default()
            }
            .into(),
        ));
    }
    if v >= R1125 {
        let option = |c: &str, t: &str| EnumOption {
            value: c.into(),
            title: t.into(),
        };
        fields.extend([
            (
                "name",
                StringSchema {
                    default: Some("octocat".into()),
                    ..Default::default()
                }
                .into(),
            ),
            (
                "ratio",
                NumberSchema {
                    default: Some(0.5),
                    ..Default::default()
                }
                .into(),
            ),
            (
                "size",
                LegacyTitledEnumSchema {
                    values: vec!["s".into(), "m".into()],
                    enum_names: Some(vec!["Small".into(), "Medium".into()]),
                    default: Some("m".into()),
                    ..Default::default()
                }
                .into(),
            ),
            (
                "shade",
                TitledSingleSelectEnumSchema {
                    one_of: vec![option("#f00", "Red"), option("#0f0", "Green")],
                    default: Some("#f00".into()),
                    ..Default::default()
                }
                .into(),
            ),
            (
                "tags",
                UntitledMultiSelectEnumSchema {
                    min_items: Some(1),
                    max_items: Some(2),
                    items: UntitledEnumItems {
                        values: vec!["a".into(), "b".into()],
                        ..Default::default()
                    },
                    default: Some(vec!["a".into()]),
                    ..Default::default()
                }
                .into(),
            ),
            (
                "shades",
                TitledMultiSelectEnumSchema {
                    items: TitledEnumItems {
                        any_of: vec![option("#f00", "Red"), option("#0f0", "Green")],
                    },
                    ..Default::default()
                }
                .into(),
            ),
        ]);
    }
    fields
}

fn form_elicitation(v: ProtocolVersion) -> ElicitRequestParams {
    let mut properties: OrderedMap<PrimitiveSchemaDefinition> = OrderedMap::default();
    for (name, field) in form_fields(v) {
        properties.0.retain(|(k, _)| k != name);
        properties.0.push((name.to_owned(), field));
    }
    let schema = RequestedSchema {
        properties,
        required: Some(vec!["name".into()]),
        ..Default::default()
    };
    let mut p = ElicitRequestParams::form("Who are you?", val(&schema));
    if v < R1125 {
        // 2025-06-18 has no `mode`; a 2025-06-18 peer would not send it.
        if let ElicitRequestParams::Form(f) = &mut p {
            f.mode = None;
        }
    }
    p
}

fn url_elicitation(v: ProtocolVersion) -> ElicitRequestParams {
    let mut p = ElicitRequestParams::url("Please sign in", "https://example.com/auth?session=1");
    if let (ElicitRequestParams::Url(u), true) = (&mut p, v == R1125) {
        u.elicitation_id = Some("el-1".into());
    }
    p
}

fn sampling_request(v: ProtocolVersion) -> CreateMessageParams {
    let mut p = CreateMessageParams::user_text("What is the capital of France?", 100);
    p.system_prompt = Some("Be brief.".into());
    p.model_preferences = Some(ModelPreferences {
        hints: Some(vec![ModelHint {
            name: Some("claude".into()),
        }]),
        cost_priority: Some(0.3),
        speed_priority: Some(1.0),
        intelligence_priority: Some(0.5),
    });
    p.include_context = Some("none".into());
    p.temperature = Some(0.7);
    p.stop_sequences = Some(vec!["\n\n".into()]);
    p.metadata = Some(json!({"provider": "x"}));
    if v >= R1125 {
        p.tools = Some(vec![tool(v)]);
        p.tool_choice = Some(json!({"mode": "auto"}));
        p.messages.push(SamplingMessage {
            role: Role::Assistant,
            content: OneOrMany::Many(vec![SamplingContent::ToolUse(ToolUseContent {
                id: "call_1".into(),
                name: "get_weather".into(),
                input: obj(json!({"location": "Paris"})),
                meta: None,
            })]),
            meta: None,
        });
        p.messages.push(SamplingMessage {
            role: Role::User,
            content: OneOrMany::Many(vec![SamplingContent::ToolResult(ToolResultContent {
                tool_use_id: "call_1".into(),
                content: vec![ContentBlock::text("18°C")],
                structured_content: Some(json!({"temperature": 18})),
                is_error: Some(false),
                meta: None,
            })]),
            meta: None,
        });
    }
    p
}

fn sampling_result(v: ProtocolVersion) -> CreateMessageResult {
    CreateMessageResult {
        role: Role::Assistant,
        content: if v >= R1125 {
            OneOrMany::Many(vec![
                SamplingContent::text("Paris."),
                SamplingContent::ToolUse(ToolUseContent {
                    id: "call_2".into(),
                    name: "get_weather".into(),
                    input: obj(json!({"location": "Paris"})),
                    meta: None,
                }),
            ])
        } else {
            OneOrMany::One(SamplingContent::text("Paris."))
        },
        model: "claude-3-sonnet".into(),
        stop_reason: Some(if v >= R1125 { "toolUse" } else { "endTurn" }.into()),
        meta: None,
    }
}

fn roots_result() -> ListRootsResult {
    ListRootsResult {
        roots: vec![Root {
            uri: "file:///home/user/project".into(),
            name: Some("Project".into()),
            meta: None,
        }],
        meta: None,
    }
}

fn call_tool_result(v: ProtocolVersion) -> CallToolResult {
    CallToolResult {
        content: content_blocks(v),
        structured_content: (v >= R0618).then(|| json!({"temperature": 22.5})),
        is_error: Some(false),
        meta: (v >= R0618).then(|| obj(json!({"com.example/trace": "abc"}))),
    }
}

fn prompt_result(v: ProtocolVersion) -> GetPromptResult {
    GetPromptResult {
        description: Some("Code review".into()),
        messages: content_blocks(v)
            .into_iter()
            .enumerate()
            .map(|(i, content)| PromptMessage {
                role: if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                content,
            })
            .collect(),
        meta: None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The cases.

type Build = fn(ProtocolVersion) -> Option<Value>;

fn cases() -> Vec<(&'static str, Build)> {
    vec![
        // Content.
        ("ContentBlock", |v| Some(val(&content_blocks(v)[0]))),
        ("TextContent", |v| Some(val(&content_blocks(v)[0]))),
        ("ImageContent", |v| Some(val(&content_blocks(v)[1]))),
        ("AudioContent", |v| Some(val(&content_blocks(v)[2]))),
        ("EmbeddedResource", |v| Some(val(&content_blocks(v)[3]))),
        ("EmbeddedResource", |v| Some(val(&content_blocks(v)[4]))),
        ("ResourceLink", |v| content_blocks(v).get(5).map(val)),
        ("TextResourceContents", |_| {
            Some(val(&ResourceContents::text(
                "file:///a.txt",
                "text/plain",
                "hi",
            )))
        }),
        ("BlobResourceContents", |_| {
            Some(val(&ResourceContents::blob(
                "file:///a.png",
                "image/png",
                PNG,
            )))
        }),
        ("ToolUseContent", |v| {
            let OneOrMany::Many(c) = sampling_result(v).content else {
                return None;
            };
            Some(val(&c[1]))
        }),
        ("ToolResultContent", |v| {
            let p = sampling_request(v);
            let OneOrMany::Many(c) = &p.messages.get(2)?.content else {
                return None;
            };
            Some(val(&c[0]))
        }),
        // Lifecycle, capabilities, implementation.
        ("Implementation", |v| {
            let mut i = Implementation::new("srv", "1.0.0");
            if v >= R0618 {
                i.title = Some("Server".into());
            }
            if v >= R1125 {
                i.description = Some("A server".into());
                i.website_url = Some("https://example.com".into());
                i.icons = icons(v);
            }
            Some(val(&i))
        }),
        ("ClientCapabilities", |v| Some(val(&client_capabilities(v)))),
        ("ServerCapabilities", |v| Some(val(&server_capabilities(v)))),
        ("InitializeRequest", |v| {
            let params = InitializeParams {
                protocol_version: v.as_str().into(),
                capabilities: client_capabilities(v),
                client_info: Implementation::new("test-client", "1.0.0"),
                meta: None,
            };
            Some(request(methods::INITIALIZE, &params))
        }),
        ("InitializeResult", |v| {
            Some(result(
                v,
                InitializeResult {
                    protocol_version: v.as_str().into(),
                    capabilities: server_capabilities(v),
                    server_info: Implementation::new("srv", "1.0.0"),
                    instructions: Some("Use get_weather.".into()),
                    meta: None,
                },
            ))
        }),
        ("InitializedNotification", |_| {
            Some(val(&Notification::new(methods::NOTIF_INITIALIZED, None)))
        }),
        ("PingRequest", |_| {
            Some(val(&Request::new(1, methods::PING, None)))
        }),
        ("EmptyResult", |v| Some(result(v, EmptyResult::default()))),
        ("DiscoverRequest", |v| {
            Some(request(
                methods::DISCOVER,
                &RequestParams {
                    meta: request_meta(v),
                },
            ))
        }),
        ("DiscoverResult", |v| {
            Some(result(
                v,
                DiscoverResult {
                    supported_versions: vec![R0728.as_str().into(), R1125.as_str().into()],
                    capabilities: server_capabilities(v),
                    instructions: Some("Use get_weather.".into()),
                    ttl_ms: Some(3_600_000),
                    cache_scope: Some(CacheScope::Public),
                    meta: Some(obj(
                        json!({meta::SERVER_INFO: Implementation::new("srv", "1.0.0")}),
                    )),
                },
            ))
        }),
        // Tools.
        ("Tool", |v| Some(val(&tool(v)))),
        ("ListToolsRequest", |v| {
            Some(request(
                methods::TOOLS_LIST,
                &PaginatedParams {
                    cursor: Some(String::new()),
                    meta: request_meta(v),
                },
            ))
        }),
        ("ListToolsResult", |v| {
            let page = ListToolsResult {
                tools: vec![
                    tool(v),
                    Tool {
                        name: "noop".into(),
                        input_schema: json!({"type": "object", "additionalProperties": false}),
                        ..Default::default()
                    },
                ],
                next_cursor: Some("next".into()),
                meta: None,
            };
            Some(cacheable(v, page, 300_000, CacheScope::Public))
        }),
        ("CallToolRequest", |v| {
            let params = CallToolParams {
                name: "get_weather".into(),
                arguments: Some(obj(json!({"location": "Paris"}))),
                meta: request_meta(v),
                ..Default::default()
            };
            Some(request(methods::TOOLS_CALL, &params))
        }),
        ("CallToolRequest", |v| {
            // An MRTR retry with the answers to every kind of input request.
            let params = CallToolParams {
                name: "get_weather".into(),
                arguments: Some(obj(json!({"location": "Paris"}))),
                input_responses: Some(obj(val(&input_responses(v)))),
                request_state: Some("opaque-state".into()),
                meta: request_meta(v),
                ..Default::default()
            };
            modern(v).then(|| request(methods::TOOLS_CALL, &params))
        }),
        ("CallToolResult", |v| Some(result(v, call_tool_result(v)))),
        ("CallToolResult", |v| {
            Some(result(
                v,
                CallToolResult::error("Invalid date: must be in the future"),
            ))
        }),
        ("CallToolResult", |v| {
            // Any JSON value as structured content (2026-07-28, SEP-2106).
            modern(v).then(|| result(v, CallToolResult::structured(json!([{"id": 1}, {"id": 2}]))))
        }),
        ("CallToolResultResponse", |v| {
            modern(v).then(|| {
                val(&mcp_protocol::Response::new(
                    7.into(),
                    result(v, call_tool_result(v)),
                ))
            })
        }),
        ("InputRequiredResult", |v| {
            modern(v).then(|| val(&input_required(v)))
        }),
        ("CallToolResultResponse", |v| {
            modern(v).then(|| {
                val(&mcp_protocol::Response::new(
                    7.into(),
                    val(&input_required(v)),
                ))
            })
        }),
        ("InputRequests", |v| {
            let Outcome::<CallToolResult>::InputRequired(r) = input_required(v) else {
                unreachable!()
            };
            modern(v).then(|| val(&r.input_requests))
        }),
        ("InputResponses", |v| {
            modern(v).then(|| val(&input_responses(v)))
        }),
        // Resources.
        ("Resource", |v| {
            Some(val(&Resource {
                uri: "file:///project/README.md".into(),
                name: "README.md".into(),
                title: (v >= R0618).then(|| "Read me".into()),
                description: Some("Docs".into()),
                mime_type: Some("text/markdown".into()),
                size: Some(12),
                icons: icons(v),
                annotations: Some(annotations(v)),
                meta: None,
            }))
        }),
        ("ListResourcesResult", |v| {
            let page = ListResourcesResult {
                resources: vec![Resource {
                    uri: "file:///project/src/main.rs".into(),
                    name: "main.rs".into(),
                    mime_type: Some("text/x-rust".into()),
                    icons: icons(v),
                    ..Default::default()
                }],
                next_cursor: Some("eyJwYWdlIjogM30=".into()),
                meta: None,
            };
            Some(cacheable(v, page, 600_000, CacheScope::Private))
        }),
        ("ListResourceTemplatesResult", |v| {
            let page = ListResourceTemplatesResult {
                resource_templates: vec![ResourceTemplate {
                    uri_template: "file:///{path}".into(),
                    name: "Project files".into(),
                    title: (v >= R0618).then(|| "Files".into()),
                    mime_type: Some("application/octet-stream".into()),
                    icons: icons(v),
                    annotations: Some(annotations(v)),
                    ..Default::default()
                }],
                next_cursor: None,
                meta: None,
            };
            Some(cacheable(v, page, 0, CacheScope::Public))
        }),
        ("ReadResourceRequest", |v| {
            let params = ReadResourceParams {
                uri: "file:///project/src/main.rs".into(),
                meta: request_meta(v),
                ..Default::default()
            };
            Some(request(methods::RESOURCES_READ, &params))
        }),
        ("ReadResourceResult", |v| {
            let r = ReadResourceResult {
                contents: vec![
                    ResourceContents::text(
                        "file:///project/src/main.rs",
                        "text/x-rust",
                        "fn main() {}",
                    ),
                    ResourceContents::blob("file:///project/logo.png", "image/png", PNG),
                ],
                meta: None,
            };
            Some(cacheable(v, r, 60_000, CacheScope::Private))
        }),
        ("SubscribeRequest", |_| {
            Some(request(
                methods::RESOURCES_SUBSCRIBE,
                &ResourceUriParams {
                    uri: "file:///project/config.json".into(),
                    meta: None,
                },
            ))
        }),
        ("ResourceUpdatedNotification", |v| {
            Some(notification(
                methods::NOTIF_RESOURCES_UPDATED,
                &ResourceUriParams {
                    uri: "file:///project/config.json".into(),
                    meta: modern(v).then(|| obj(json!({meta::SUBSCRIPTION_ID: "listen-1"}))),
                },
            ))
        }),
        ("ToolListChangedNotification", |v| {
            Some(notification(
                methods::NOTIF_TOOLS_LIST_CHANGED,
                &NotificationParams {
                    meta: modern(v).then(|| obj(json!({meta::SUBSCRIPTION_ID: "listen-1"}))),
                },
            ))
        }),
        // Prompts and completion.
        ("ListPromptsResult", |v| {
            let page = ListPromptsResult {
                prompts: vec![Prompt {
                    name: "code_review".into(),
                    title: (v >= R0618).then(|| "Code review".into()),
                    description: Some("Review code".into()),
                    arguments: Some(vec![PromptArgument {
                        name: "code".into(),
                        title: (v >= R0618).then(|| "Code".into()),
                        description: Some("The code".into()),
                        required: Some(true),
                    }]),
                    icons: icons(v),
                    meta: None,
                }],
                next_cursor: None,
                meta: None,
            };
            Some(cacheable(v, page, 600_000, CacheScope::Public))
        }),
        ("GetPromptRequest", |v| {
            let params = GetPromptParams {
                name: "code_review".into(),
                arguments: Some([("code".to_owned(), "fn main() {}".to_owned())].into()),
                meta: request_meta(v),
                ..Default::default()
            };
            Some(request(methods::PROMPTS_GET, &params))
        }),
        ("GetPromptResult", |v| Some(result(v, prompt_result(v)))),
        ("CompleteRequest", |v| {
            let params = CompleteParams {
                reference: CompletionReference::Prompt {
                    name: "code_review".into(),
                    title: None,
                },
                argument: CompletionArgument {
                    name: "language".into(),
                    value: "py".into(),
                },
                context: (v >= R0618).then(|| CompletionContext {
                    arguments: Some([("framework".to_owned(), "flask".to_owned())].into()),
                }),
                meta: request_meta(v),
            };
            Some(request(methods::COMPLETION_COMPLETE, &params))
        }),
        ("CompleteRequest", |v| {
            let params = CompleteParams {
                reference: CompletionReference::Resource {
                    uri: "file:///{path}".into(),
                },
                argument: CompletionArgument {
                    name: "path".into(),
                    value: "src/".into(),
                },
                context: None,
                meta: request_meta(v),
            };
            Some(request(methods::COMPLETION_COMPLETE, &params))
        }),
        ("CompleteResult", |v| {
            Some(result(
                v,
                CompleteResult {
                    completion: Completion {
                        values: vec!["python".into(), "pytorch".into()],
                        total: Some(10),
                        has_more: Some(true),
                    },
                    meta: None,
                },
            ))
        }),
        // Notifications.
        ("ProgressNotification", |_| {
            Some(notification(
                methods::NOTIF_PROGRESS,
                &ProgressParams {
                    progress_token: json!("tok-1"),
                    progress: 50.0,
                    total: Some(100.0),
                    message: Some("Reticulating splines".into()),
                    meta: None,
                },
            ))
        }),
        ("ProgressNotification", |_| {
            Some(notification(
                methods::NOTIF_PROGRESS,
                &ProgressParams {
                    progress_token: json!(42),
                    progress: 0.25,
                    total: None,
                    message: None,
                    meta: None,
                },
            ))
        }),
        ("LoggingMessageNotification", |_| {
            Some(notification(
                methods::NOTIF_MESSAGE,
                &LoggingMessageParams {
                    level: LoggingLevel::Error,
                    logger: Some("database".into()),
                    data: json!({"error": "Connection failed", "port": 5432}),
                    meta: None,
                },
            ))
        }),
        ("SetLevelRequest", |_| {
            Some(request(
                methods::LOGGING_SET_LEVEL,
                &SetLevelParams {
                    level: LoggingLevel::Warning,
                    meta: None,
                },
            ))
        }),
        ("CancelledNotification", |_| {
            Some(notification(
                methods::NOTIF_CANCELLED,
                &CancelledParams {
                    request_id: Some("123".into()),
                    reason: Some("User requested cancellation".into()),
                    meta: None,
                },
            ))
        }),
        // Subscriptions (2026-07-28).
        ("SubscriptionsListenRequest", |v| {
            let params = ListenParams {
                notifications: SubscriptionFilter {
                    tools_list_changed: Some(true),
                    prompts_list_changed: Some(false),
                    resources_list_changed: Some(true),
                    resource_subscriptions: Some(vec!["file:///project/config.json".into()]),
                    task_ids: None,
                },
                meta: request_meta(v),
            };
            Some(request(methods::SUBSCRIPTIONS_LISTEN, &params))
        }),
        ("SubscriptionsAcknowledgedNotification", |_| {
            Some(notification(
                methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED,
                &SubscriptionsAcknowledgedParams {
                    notifications: SubscriptionFilter {
                        tools_list_changed: Some(true),
                        ..Default::default()
                    },
                    meta: Some(obj(json!({meta::SUBSCRIPTION_ID: "listen-1"}))),
                },
            ))
        }),
        ("SubscriptionsListenResult", |v| {
            Some(result(
                v,
                EmptyResult {
                    meta: Some(obj(json!({meta::SUBSCRIPTION_ID: "listen-1"}))),
                },
            ))
        }),
        // Client features: elicitation, sampling, roots.
        ("ElicitRequest", |v| {
            (v >= R0618).then(|| server_request(v, InputRequest::Elicit(form_elicitation(v))))
        }),
        ("ElicitRequest", |v| {
            (v >= R1125).then(|| server_request(v, InputRequest::Elicit(url_elicitation(v))))
        }),
        ("ElicitRequestFormParams", |v| {
            Some(val(&form_elicitation(v)))
        }),
        ("ElicitRequestURLParams", |v| Some(val(&url_elicitation(v)))),
        ("PrimitiveSchemaDefinition", |v| {
            // Checked one by one below too; here every field of the form at once, as the form's schema.
            (v >= R0618)
                .then(|| val(&form_elicitation(v))["requestedSchema"]["properties"]["name"].clone())
        }),
        ("ElicitResult", |_| {
            Some(val(&ElicitResult::accept(obj(
                json!({"name": "octocat", "age": 30, "subscribe": true}),
            ))))
        }),
        ("ElicitResult", |_| Some(val(&ElicitResult::decline()))),
        ("URLElicitationRequiredError", |v| {
            let data = UrlElicitationRequiredData {
                elicitations: vec![url_elicitation(v)],
            };
            let err = ErrorObject::new(error_code::URL_ELICITATION_REQUIRED, "Sign-in required")
                .with_data(val(&data));
            Some(val(&ErrorResponse::new(Some(7.into()), err)))
        }),
        ("CreateMessageRequest", |v| {
            Some(server_request(v, InputRequest::Sample(sampling_request(v))))
        }),
        ("CreateMessageRequestParams", |v| {
            Some(val(&sampling_request(v)))
        }),
        ("CreateMessageResult", |v| Some(val(&sampling_result(v)))),
        ("SamplingMessage", |v| {
            Some(val(&sampling_request(v).messages[0]))
        }),
        ("ModelPreferences", |v| {
            sampling_request(v).model_preferences.as_ref().map(val)
        }),
        ("ListRootsRequest", |v| {
            Some(server_request(v, InputRequest::ListRoots(None)))
        }),
        ("ListRootsResult", |_| Some(val(&roots_result()))),
        // Errors (2026-07-28).
        ("UnsupportedProtocolVersionError", |_| {
            let data = UnsupportedProtocolVersionData {
                supported: vec![R0728.as_str().into(), R1125.as_str().into()],
                requested: "1900-01-01".into(),
            };
            let err = ErrorObject::new(
                error_code::UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version",
            )
            .with_data(val(&data));
            Some(val(&ErrorResponse::new(Some(1.into()), err)))
        }),
        ("MissingRequiredClientCapabilityError", |_| {
            let data = MissingRequiredClientCapabilityData {
                required_capabilities: ClientCapabilities {
                    elicitation: Some(ElicitationCapability::default()),
                    ..Default::default()
                },
            };
            let err = ErrorObject::new(
                error_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                "Needs elicitation",
            )
            .with_data(val(&data));
            Some(val(&ErrorResponse::new(Some(1.into()), err)))
        }),
        ("HeaderMismatchError", |_| {
            let err = ErrorObject::new(error_code::HEADER_MISMATCH, "Header mismatch: Mcp-Name");
            Some(val(&ErrorResponse::new(Some(1.into()), err)))
        }),
        ("ParseError", |_| {
            Some(val(&ErrorObject::parse_error("bad JSON")))
        }),
        ("InvalidParamsError", |_| {
            Some(val(&ErrorObject::invalid_params("Unknown tool: x")))
        }),
        ("MethodNotFoundError", |_| {
            Some(val(&ErrorObject::method_not_found("prompts/list")))
        }),
        ("InternalError", |_| {
            Some(val(&ErrorObject::internal("boom")))
        }),
        ("JSONRPCErrorResponse", |_| {
            Some(val(&ErrorResponse::new(
                Some("r-1".into()),
                ErrorObject::parse_error("bad JSON"),
            )))
        }),
        ("JSONRPCError", |_| {
            Some(val(&ErrorResponse::new(
                Some(3.into()),
                ErrorObject::internal("boom"),
            )))
        }),
    ]
}

/// A message our types write today that a schema rejects: the schema type, the revisions that reject it,
/// the builder, and why. [`known_gaps_still_fail`] asserts each still fails, so a fix must move it to
/// [`cases`].
type Gap = (
    &'static str,
    &'static [ProtocolVersion],
    Build,
    &'static str,
);

fn known_gaps() -> Vec<Gap> {
    vec![
        (
            "JSONRPCError",
            &[R0326, R0618],
            |_| Some(val(&ErrorResponse::new(None, ErrorObject::parse_error("bad JSON")))),
            "2025-03-26 and 2025-06-18 require a string or integer id on every error, so an error for an \
             unreadable request (JSON-RPC 2.0: id null) cannot be schema-valid there",
        ),
    ]
}

fn input_required(v: ProtocolVersion) -> Outcome<CallToolResult> {
    Outcome::InputRequired(InputRequiredResult {
        input_requests: Some(OrderedMap(vec![
            (
                "github_login".into(),
                InputRequest::Elicit(form_elicitation(v)),
            ),
            ("sign_in".into(), InputRequest::Elicit(url_elicitation(v))),
            ("capital".into(), InputRequest::Sample(sampling_request(v))),
            ("roots".into(), InputRequest::ListRoots(None)),
            (
                "roots_meta".into(),
                InputRequest::ListRoots(Some(obj(json!({"_meta": {"com.example/x": 1}})))),
            ),
        ])),
        request_state: Some("eyJsb2NhdGlvbiI6Ik5ldyBZb3JrIn0".into()),
        meta: None,
    })
}

fn input_responses(v: ProtocolVersion) -> InputResponses {
    OrderedMap(vec![
        (
            "github_login".into(),
            InputResponse::Elicit(ElicitResult::accept(obj(json!({"name": "octocat"})))),
        ),
        (
            "sign_in".into(),
            InputResponse::Elicit(ElicitResult {
                action: ElicitAction::Accept,
                content: None,
                meta: None,
            }),
        ),
        ("capital".into(), InputResponse::Sample(sampling_result(v))),
        ("roots".into(), InputResponse::ListRoots(roots_result())),
    ])
}

/// Each form-field type on its own, against its own definition.
fn form_field_cases(v: ProtocolVersion) -> Vec<(&'static str, Value)> {
    form_fields(v)
        .into_iter()
        .map(|(_, f)| {
            let name = match &f {
                PrimitiveSchemaDefinition::String(_) => "StringSchema",
                PrimitiveSchemaDefinition::Number(_) => "NumberSchema",
                PrimitiveSchemaDefinition::Boolean(_) => "BooleanSchema",
                PrimitiveSchemaDefinition::UntitledSingleSelect(_) => {
                    "UntitledSingleSelectEnumSchema"
                }
                PrimitiveSchemaDefinition::TitledSingleSelect(_) => "TitledSingleSelectEnumSchema",
                PrimitiveSchemaDefinition::LegacyTitled(_) => "LegacyTitledEnumSchema",
                PrimitiveSchemaDefinition::UntitledMultiSelect(_) => {
                    "UntitledMultiSelectEnumSchema"
                }
                PrimitiveSchemaDefinition::TitledMultiSelect(_) => "TitledMultiSelectEnumSchema",
            };
            (name, val(&f))
        })
        .flat_map(|(name, value)| {
            let mut out = vec![
                (name, value.clone()),
                ("PrimitiveSchemaDefinition", value.clone()),
            ];
            if name.ends_with("EnumSchema") {
                // The union of enum kinds (2025-06-18: the only enum definition).
                out.push(("EnumSchema", value));
            }
            out
        })
        .collect()
}

#[test]
fn our_messages_validate_against_every_revision() {
    let Some(mut revisions) = load_revisions() else {
        return;
    };
    let cases = cases();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut used_cases = vec![false; cases.len()];
    let mut failures = Vec::new();
    for rev in &mut revisions {
        let version = rev.version;
        let mut instances: Vec<(usize, &str, Value)> = Vec::new();
        for (i, (name, build)) in cases.iter().enumerate() {
            if let Some(value) = build(version) {
                instances.push((i, name, value));
            }
        }
        for (name, value) in form_field_cases(version) {
            instances.push((usize::MAX, name, value));
        }
        for (i, name, value) in instances {
            if !rev.has(name) {
                continue;
            }
            if let Some(u) = used_cases.get_mut(i) {
                *u = true;
            }
            *counts.entry(version.as_str()).or_default() += 1;
            let errors = rev.errors(name, &value);
            if !errors.is_empty() {
                failures.push(format!(
                    "{version} {name}: {}\n  instance: {value}",
                    errors.join("; ")
                ));
            }
        }
    }
    for (rev, n) in &counts {
        println!("{rev}: {n} schema validations");
    }
    for (i, used) in used_cases.iter().enumerate() {
        if !used {
            failures.push(format!(
                "case #{i} ({}) validated against no revision",
                cases[i].0
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for v in REVISIONS {
        let n = counts.get(v.as_str()).copied().unwrap_or(0);
        assert!(
            n >= 30,
            "{v}: only {n} validations; the schema cases are not being exercised"
        );
    }
}

/// Definitions the claims above depend on; a schema file that lost them would make the test pass vacuously.
#[test]
fn schemas_define_the_types_we_check() {
    let Some(mut revisions) = load_revisions() else {
        return;
    };
    for rev in &mut revisions {
        for name in [
            "CallToolResult",
            "ListToolsResult",
            "ReadResourceResult",
            "GetPromptResult",
            "Tool",
        ] {
            assert!(rev.has(name), "{}: no {name}", rev.version);
        }
        let modern_only = [
            "DiscoverResult",
            "InputRequiredResult",
            "CacheableResult",
            "SubscriptionsListenRequest",
        ];
        for name in modern_only {
            assert_eq!(
                rev.has(name),
                modern(rev.version),
                "{}: {name}",
                rev.version
            );
        }
        assert_eq!(
            rev.has("InitializeResult"),
            !modern(rev.version),
            "{}: InitializeResult",
            rev.version
        );
    }
}

#[test]
fn the_validator_rejects_bad_messages() {
    let Some(mut revisions) = load_revisions() else {
        return;
    };
    for rev in &mut revisions {
        let v = rev.version;
        // A content item without `type`.
        let mut bad = result(v, CallToolResult::text("hi"));
        bad["content"][0].as_object_mut().unwrap().remove("type");
        assert!(
            !rev.errors("CallToolResult", &bad).is_empty(),
            "{v}: content without type passed"
        );
        // The same message with `type` passes, so it is the missing tag that fails it.
        assert!(rev
            .errors("CallToolResult", &result(v, CallToolResult::text("hi")))
            .is_empty());

        // A required member missing.
        let mut bad = val(&tool(v));
        bad.as_object_mut().unwrap().remove("inputSchema");
        assert!(
            !rev.errors("Tool", &bad).is_empty(),
            "{v}: tool without inputSchema passed"
        );

        // A wrong type.
        let mut bad = notification(
            methods::NOTIF_PROGRESS,
            &ProgressParams {
                progress_token: json!("t"),
                progress: 1.0,
                total: None,
                message: None,
                meta: None,
            },
        );
        bad["params"]["progress"] = json!("half");
        assert!(
            !rev.errors("ProgressNotification", &bad).is_empty(),
            "{v}: string progress passed"
        );

        // Formats are asserted, not just annotations.
        let mut bad = val(&Resource {
            uri: "file:///ok".into(),
            name: "x".into(),
            ..Default::default()
        });
        assert!(
            rev.errors("Resource", &bad).is_empty(),
            "{v}: good resource failed"
        );
        bad["uri"] = json!("not a uri");
        assert!(
            !rev.errors("Resource", &bad).is_empty(),
            "{v}: format: uri is not checked"
        );

        if modern(v) {
            // 2026-07-28 requires `resultType`: a legacy-shaped result is not a modern one.
            assert!(!rev
                .errors("CallToolResult", &val(&CallToolResult::text("hi")))
                .is_empty());
            // Cacheable results require `ttlMs` and `cacheScope`.
            let bare = val(&Outcome::Complete(ListToolsResult::default()));
            assert!(
                !rev.errors("ListToolsResult", &bare).is_empty(),
                "ListToolsResult without ttlMs passed"
            );
            // `params._meta` is required on requests.
            let no_meta = request(
                methods::TOOLS_CALL,
                &CallToolParams {
                    name: "x".into(),
                    ..Default::default()
                },
            );
            assert!(
                !rev.errors("CallToolRequest", &no_meta).is_empty(),
                "request without _meta passed"
            );
            // A roots input request with `params: null` (what a derived adjacently tagged enum would write).
            let null_params = json!({"method": "roots/list", "params": null});
            assert!(!rev.errors("ListRootsRequest", &null_params).is_empty());
        }
    }
}

#[test]
fn error_without_id_omits_it_and_validates_on_2025_11_25_plus() {
    let Some(mut revisions) = load_revisions() else {
        return;
    };
    let value = val(&ErrorResponse::new(
        None,
        ErrorObject::parse_error("bad JSON"),
    ));
    assert!(
        value.get("id").is_none(),
        "an unknown id is omitted, never null"
    );
    for rev in revisions
        .iter_mut()
        .filter(|r| [R1125, R0728].contains(&r.version))
    {
        let errors = rev.errors("JSONRPCErrorResponse", &value);
        assert!(errors.is_empty(), "{}: {errors:?}", rev.version);
    }
}

#[test]
fn known_gaps_still_fail() {
    let Some(mut revisions) = load_revisions() else {
        return;
    };
    for (name, revs, build, why) in known_gaps() {
        for rev in revisions.iter_mut().filter(|r| revs.contains(&r.version)) {
            let value = build(rev.version).expect("a gap builds a value");
            assert!(rev.has(name), "{} has no {name}", rev.version);
            assert!(
                !rev.errors(name, &value).is_empty(),
                "{} {name} now validates; move it from known_gaps() to cases(). It was: {why}",
                rev.version
            );
        }
    }
}
