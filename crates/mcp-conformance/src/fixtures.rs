//! Tools, resources and prompts with exactly the names, texts and behaviour the conformance suite checks
//! (notes/conformance.md §3). One server serves them on both eras.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mcp::protocol::types::{
    CallToolResult, CompleteResult, ContentBlock, CreateMessageParams, ElicitAction,
    ElicitRequestParams, GetPromptResult, InputRequest, LoggingLevel, Prompt, PromptArgument,
    PromptMessage, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, Tool,
};
use mcp::protocol::JsonObject;
use mcp::server::{Error, RequestContext, Server, ServerOptions, TaskPolicy};
use serde_json::{json, Value};

/// A 1×1 PNG.
pub const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A tiny WAV file.
pub const WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";
/// The tool `test_trigger_tool_change` adds, or removes when present.
pub const DYNAMIC_TOOL: &str = "test_dynamic_tool";
/// The prompt `test_trigger_prompt_change` adds, or removes when present.
pub const DYNAMIC_PROMPT: &str = "test_dynamic_prompt";

type Args = JsonObject;

fn tool(name: &str, description: &str, input_schema: Value) -> Tool {
    Tool::new(name, input_schema).with_description(description)
}

fn no_args() -> Value {
    json!({"type": "object", "properties": {}})
}

fn text_of(v: &Value) -> String {
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn name_form() -> ElicitRequestParams {
    ElicitRequestParams::form(
        "What is your name?",
        json!({"type": "object", "properties": {"name": {"type": "string", "description": "Your name"}}, "required": ["name"]}),
    )
}

fn accepted(r: &mcp::protocol::types::ElicitResult) -> Option<&JsonObject> {
    (r.action == ElicitAction::Accept)
        .then_some(r.content.as_ref())
        .flatten()
}

/// The 2020-12 schema the `json-schema-2020-12` scenario expects verbatim.
pub fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })
}

/// Build the conformance server.
pub fn fixtures_server() -> Server {
    fixtures_server_with(|b| b)
}

/// [`fixtures_server`] with `configure` applied to the builder first: a fleet node sets its shared
/// `requestState` key and its task store here.
pub fn fixtures_server_with(
    configure: impl FnOnce(mcp::server::ServerBuilder) -> mcp::server::ServerBuilder,
) -> Server {
    // The trigger tools change the server's own lists, so they need a handle to it once it is built.
    let handle: Arc<OnceLock<Server>> = Arc::new(OnceLock::new());
    let builder = Server::builder("mcp-rs-conformance-server", env!("CARGO_PKG_VERSION"))
        .instructions("Conformance fixtures for the MCP conformance suite.")
        .options(ServerOptions::default().cache_ttl(Duration::from_secs(60)));
    let builder = configure(builder);
    let builder = content_tools(builder);
    let builder = interactive_tools(builder);
    let builder = diagnostic_tools(builder, handle.clone());
    let builder = input_required_tools(builder);
    let builder = task_tools(builder);
    let builder = builder.skills(skills());
    let builder = builder.apps(crate::apps::apps());
    let builder = resources(builder);
    let server = prompts(builder).build();
    let _ = handle.set(server.clone());
    server
}

/// Tools written with the macros, through the `mcp` facade as users write them, so that path is compiled
/// (and served to the conformance suite) every day.
#[mcp::collect]
mod macro_tools {
    use super::{PNG, WAV};
    use mcp::protocol::types::{CallToolResult, ContentBlock};
    use mcp::server::Error;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct NoArgs {}

    /// Returns a simple text response
    #[tool(name = "test_simple_text")]
    async fn simple_text(_args: NoArgs) -> Result<&'static str, Error> {
        Ok("This is a simple text response for testing.")
    }

    /// Returns an image
    #[tool(name = "test_image_content")]
    async fn image_content(_args: NoArgs) -> Result<CallToolResult, Error> {
        Ok(CallToolResult::from_content(vec![ContentBlock::image(
            PNG,
            "image/png",
        )]))
    }

    /// Returns audio
    #[tool(name = "test_audio_content")]
    async fn audio_content(_args: NoArgs) -> Result<CallToolResult, Error> {
        Ok(CallToolResult::from_content(vec![ContentBlock::audio(
            WAV,
            "audio/wav",
        )]))
    }
}

fn content_tools(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    b.with(macro_tools::register)
    .tool(tool("test_embedded_resource", "Returns an embedded resource", no_args()), |_c: RequestContext, _a: Args| async {
        Ok::<_, Error>(CallToolResult::from_content(vec![ContentBlock::resource(ResourceContents::text(
            "test://embedded-resource",
            "text/plain",
            "This is an embedded resource content.",
        ))]))
    })
    .tool(tool("test_multiple_content_types", "Returns text, image and resource content", no_args()), |_c: RequestContext, _a: Args| async {
        Ok::<_, Error>(CallToolResult::from_content(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG, "image/png"),
            ContentBlock::resource(ResourceContents::text(
                "test://mixed-content-resource",
                "application/json",
                r#"{"test":"data","value":123}"#,
            )),
        ]))
    })
    .tool(tool("test_error_handling", "Always fails with a tool error", no_args()), |_c: RequestContext, _a: Args| async {
        Err::<CallToolResult, _>(Error::tool("This tool intentionally returns an error for testing"))
    })
    .tool(tool("json_schema_2020_12_tool", "Accepts a JSON Schema 2020-12 input", json_schema_2020_12()), |_c: RequestContext, a: Args| async move {
        Ok::<_, Error>(CallToolResult::text(format!("Received: {}", Value::Object(a))))
    })
    .tool(
        tool(
            "echo_typed_arguments",
            "Echoes its arguments as structuredContent, with their JSON types (for command-line typing checks)",
            json!({"type": "object", "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "sizes": {"type": "array", "items": {"type": "integer"}},
                "code": {"type": "string", "description": "Stays a string even when it is all digits"},
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "flag": {"type": "boolean"}
            }}),
        ),
        |_c: RequestContext, a: Args| async move {
            let mut r = CallToolResult::text(format!("Received: {}", Value::Object(a.clone())));
            r.structured_content = Some(Value::Object(a));
            Ok::<_, Error>(r)
        },
    )
    .tool(
        tool(
            "test_custom_header",
            "Echoes a region that is mirrored into the Mcp-Param-Region header",
            json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}),
        ),
        |_c: RequestContext, a: Args| async move {
            Ok::<_, Error>(CallToolResult::text(format!("region: {}", a.get("region").map(text_of).unwrap_or_default())))
        },
    )
}

fn interactive_tools(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    b.tool(tool("test_tool_with_logging", "Sends log messages while running", no_args()), |ctx: RequestContext, _a: Args| async move {
        for (i, msg) in ["Tool execution started", "Tool processing data", "Tool execution completed"].iter().enumerate() {
            if i > 0 {
                sleep_ms(50).await;
            }
            ctx.log(LoggingLevel::Info, Some("conformance"), json!(msg)).await;
        }
        Ok::<_, Error>(CallToolResult::text("Logging test completed"))
    })
    .tool(tool("test_tool_with_progress", "Reports progress while running", no_args()), |ctx: RequestContext, _a: Args| async move {
        for (i, p) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            if i > 0 {
                sleep_ms(50).await;
            }
            ctx.progress(p, Some(100.0), Some(format!("Completed step {}", i + 1))).await;
        }
        Ok::<_, Error>(CallToolResult::text("Progress test completed"))
    })
    .tool(
        tool("test_sampling", "Asks the client's model", json!({"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]})),
        |ctx: RequestContext, a: Args| async move {
            let prompt = a.get("prompt").map(text_of).unwrap_or_default();
            let r = ctx.sample("sampling", CreateMessageParams::user_text(prompt, 100)).await?;
            Ok::<_, Error>(CallToolResult::text(format!("LLM response: {}", r.text().unwrap_or_default())))
        },
    )
    .tool(
        tool("test_elicitation", "Asks the user for information", json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})),
        |ctx: RequestContext, a: Args| async move {
            let message = a.get("message").map(text_of).unwrap_or_else(|| "Please provide your information".into());
            let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "Your username"},
                "email": {"type": "string", "description": "Your email", "format": "email"}
            }, "required": ["username", "email"]});
            let r = ctx.elicit("elicitation", ElicitRequestParams::form(message, schema)).await?;
            Ok::<_, Error>(CallToolResult::text(format!("User response: {}", serde_json::to_string(&r).unwrap_or_default())))
        },
    )
    .tool(tool("test_elicitation_sep1034_defaults", "Elicits a form whose fields have defaults", no_args()), |ctx: RequestContext, _a: Args| async move {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        }, "required": []});
        let r = ctx.elicit("defaults", ElicitRequestParams::form("Please review and update the form fields with defaults", schema)).await?;
        Ok::<_, Error>(CallToolResult::text(format!("Elicitation completed: {}", serde_json::to_string(&r).unwrap_or_default())))
    })
    .tool(tool("test_elicitation_sep1330_enums", "Elicits every enum form", no_args()), |ctx: RequestContext, _a: Args| async move {
        let schema = json!({"type": "object", "properties": {
            "untitledSingle": {"type": "string", "description": "Choose an option", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "description": "Choose a titled option", "oneOf": [
                {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "description": "Choose a legacy option", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "description": "Choose multiple options", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "description": "Choose multiple titled options", "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}
        }, "required": []});
        let r = ctx.elicit("enums", ElicitRequestParams::form("Please select options from the enum fields", schema)).await?;
        Ok::<_, Error>(CallToolResult::text(format!("Elicitation completed: {}", serde_json::to_string(&r).unwrap_or_default())))
    })
    .tool(tool("test_reconnection", "Closes its SSE stream mid-call; the result arrives after the client reconnects", no_args()), |ctx: RequestContext, _a: Args| async move {
        sleep_ms(100).await;
        ctx.close_sse_stream();
        sleep_ms(200).await;
        Ok::<_, Error>(CallToolResult::text("Reconnection test completed successfully"))
    })
}

fn diagnostic_tools(
    b: mcp::server::ServerBuilder,
    handle: Arc<OnceLock<Server>>,
) -> mcp::server::ServerBuilder {
    let h2 = handle.clone();
    b.tool(
        tool(
            "test_missing_capability",
            "Needs the sampling capability",
            no_args(),
        ),
        |ctx: RequestContext, _a: Args| async move {
            let r = ctx
                .sample("sample", CreateMessageParams::user_text("Say hello", 50))
                .await?;
            Ok::<_, Error>(CallToolResult::text(format!(
                "Sampled: {}",
                r.text().unwrap_or_default()
            )))
        },
    )
    .tool(
        tool(
            "test_streaming_elicitation",
            "Asks the user through input_required, never a stream request",
            no_args(),
        ),
        |ctx: RequestContext, _a: Args| async move {
            ctx.progress(0.0, Some(1.0), Some("asking".into())).await;
            let r = ctx.elicit("user_name", name_form()).await?;
            let name = accepted(&r)
                .and_then(|c| c.get("name"))
                .map(text_of)
                .unwrap_or_else(|| "stranger".into());
            Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
        },
    )
    .tool(
        tool(
            "test_logging_tool",
            "Logs only when the request asks for logs",
            no_args(),
        ),
        |ctx: RequestContext, _a: Args| async move {
            ctx.log(
                LoggingLevel::Info,
                Some("conformance"),
                json!("logging tool ran"),
            )
            .await;
            Ok::<_, Error>(CallToolResult::text("Logging tool completed"))
        },
    )
    .tool(
        tool(
            "test_trigger_tool_change",
            "Adds or removes a dummy tool, which fires tools/list_changed",
            no_args(),
        ),
        move |_c: RequestContext, _a: Args| {
            // Toggle one dummy so repeated calls keep the list bounded; each call is one change.
            let text = match handle.get() {
                Some(server) if server.remove_tool(DYNAMIC_TOOL) => {
                    format!("{DYNAMIC_TOOL} removed")
                }
                Some(server) => {
                    server.add_tool(
                        tool(DYNAMIC_TOOL, "A tool added at runtime", no_args()),
                        |_c: RequestContext, _a: Args| async {
                            Ok::<_, Error>(CallToolResult::text("dynamic"))
                        },
                    );
                    format!("{DYNAMIC_TOOL} added")
                }
                None => "server not ready".into(),
            };
            async move { Ok::<_, Error>(CallToolResult::text(text)) }
        },
    )
    .tool(
        tool(
            "test_trigger_prompt_change",
            "Adds or removes a dummy prompt, which fires prompts/list_changed",
            no_args(),
        ),
        move |_c: RequestContext, _a: Args| {
            let text = match h2.get() {
                Some(server) if server.remove_prompt(DYNAMIC_PROMPT) => {
                    format!("{DYNAMIC_PROMPT} removed")
                }
                Some(server) => {
                    let prompt =
                        Prompt::new(DYNAMIC_PROMPT).with_description("A prompt added at runtime");
                    server.add_prompt(
                        prompt,
                        |_c: RequestContext, _a: BTreeMap<String, String>| async {
                            Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::user(
                                "dynamic",
                            )]))
                        },
                    );
                    format!("{DYNAMIC_PROMPT} added")
                }
                None => "server not ready".into(),
            };
            async move { Ok::<_, Error>(CallToolResult::text(text)) }
        },
    )
}

fn input_required_tools(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    b.tool(tool("test_input_required_result_elicitation", "Asks for the user's name, then greets them", no_args()), |ctx: RequestContext, _a: Args| async move {
        let r = ctx.elicit("user_name", name_form()).await?;
        let name = accepted(&r).and_then(|c| c.get("name")).map(text_of).unwrap_or_else(|| "stranger".into());
        Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
    })
    .tool(tool("test_input_required_result_sampling", "Asks the client's model a question", no_args()), |ctx: RequestContext, _a: Args| async move {
        let r = ctx.sample("capital", CreateMessageParams::user_text("What is the capital of France?", 100)).await?;
        Ok::<_, Error>(CallToolResult::text(format!("Model answered: {}", r.text().unwrap_or_default())))
    })
    .tool(tool("test_input_required_result_list_roots", "Asks for the client's roots", no_args()), |ctx: RequestContext, _a: Args| async move {
        let r = ctx.list_roots("roots").await?;
        let uris: Vec<_> = r.roots.iter().map(|r| r.uri.clone()).collect();
        Ok::<_, Error>(CallToolResult::text(format!("Roots: {}", uris.join(", "))))
    })
    .tool(tool("test_input_required_result_request_state", "Carries state across rounds in requestState", no_args()), |ctx: RequestContext, _a: Args| async move {
        // Round state must be set before asking, so it is sealed into requestState.
        let carried: Option<String> = ctx.round_state();
        if carried.is_none() {
            ctx.set_round_state(&"state-ok");
        }
        let r = ctx
            .elicit("confirm", ElicitRequestParams::form("Confirm?", json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})))
            .await?;
        let state = carried.unwrap_or_else(|| "state-missing".into());
        Ok::<_, Error>(CallToolResult::text(format!("{state}: confirmed={}", accepted(&r).and_then(|c| c.get("ok")).map(text_of).unwrap_or_default())))
    })
    .tool(tool("test_input_required_result_multiple_inputs", "Asks for several inputs in one round", no_args()), |ctx: RequestContext, _a: Args| async move {
        ctx.set_round_state(&"multi");
        let answers = ctx
            .ask(vec![
                ("user_name".into(), InputRequest::Elicit(name_form())),
                ("capital".into(), InputRequest::Sample(CreateMessageParams::user_text("What is the capital of France?", 100))),
                ("roots".into(), InputRequest::ListRoots(None)),
            ])
            .await?;
        Ok::<_, Error>(CallToolResult::text(format!("Received {} inputs", answers.len())))
    })
    .tool(tool("test_input_required_result_multi_round", "Needs two rounds of input", no_args()), |ctx: RequestContext, _a: Args| async move {
        let step1 = ctx.elicit("step1", ElicitRequestParams::form("Step 1: your name?", json!({"type": "object", "properties": {"name": {"type": "string"}}}))).await?;
        let step2 = ctx.elicit("step2", ElicitRequestParams::form("Step 2: your city?", json!({"type": "object", "properties": {"city": {"type": "string"}}}))).await?;
        Ok::<_, Error>(CallToolResult::text(format!(
            "Completed both rounds: {} / {}",
            serde_json::to_string(&step1.content).unwrap_or_default(),
            serde_json::to_string(&step2.content).unwrap_or_default()
        )))
    })
    .tool(tool("test_input_required_result_tampered_state", "Rejects a requestState that was altered", no_args()), |ctx: RequestContext, _a: Args| async move {
        ctx.set_round_state(&json!({"step": 1}));
        let r = ctx.elicit("user_name", name_form()).await?;
        let name = accepted(&r).and_then(|c| c.get("name")).map(text_of).unwrap_or_default();
        Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
    })
    .tool(tool("test_input_required_result_capabilities", "Asks only for what the client declared", no_args()), |ctx: RequestContext, _a: Args| async move {
        let caps = ctx.client_capabilities().clone();
        if caps.elicitation.is_some() {
            let r = ctx.elicit("user_name", name_form()).await?;
            return Ok(CallToolResult::text(format!("Elicited: {}", serde_json::to_string(&r).unwrap_or_default())));
        }
        if caps.sampling.is_some() {
            let r = ctx.sample("capital", CreateMessageParams::user_text("What is the capital of France?", 100)).await?;
            return Ok(CallToolResult::text(format!("Sampled: {}", r.text().unwrap_or_default())));
        }
        Ok::<_, Error>(CallToolResult::text("No input capability declared"))
    })
}

/// The skill the skills scenarios discover: a SKILL.md and a file in a subfolder (the directory scenario
/// needs a child folder).
fn skills() -> mcp::server::skills::Skills {
    const SKILL_MD: &str = "---\nname: pdf-processing\ndescription: Extract, fill, and assemble PDF documents\n---\n\n# PDF processing\n\nRead references/FORMS.md before filling a form.\n";
    mcp::server::skills::Skills::new()
        .skill(
            "pdf-processing",
            [
                ("SKILL.md", SKILL_MD.as_bytes()),
                (
                    "references/FORMS.md",
                    b"Form field names and their meaning.\n".as_slice(),
                ),
            ],
        )
        .expect("the fixture skill is valid")
}

/// The tools of the tasks extension's scenarios (SEP-2663): names, texts and timings as the suite expects.
fn task_tools(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    let confirm_form = |message: String| {
        ElicitRequestParams::form(
            message,
            json!({"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}),
        )
    };
    b.tool(tool("greet", "Greets someone (never a task)", json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})), |_c: RequestContext, a: Args| async move {
        let name = a.get("name").and_then(Value::as_str).unwrap_or("world").to_owned();
        Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}!")))
    })
    .tool(tool("slow_compute", "Computes for `seconds` seconds; a task for clients that declare tasks", json!({"type": "object", "properties": {"seconds": {"type": "integer", "minimum": 0}, "label": {"type": "string"}}})), |_c: RequestContext, a: Args| async move {
        let seconds = a.get("seconds").and_then(Value::as_u64).unwrap_or(3).min(600);
        let label = a.get("label").and_then(Value::as_str).unwrap_or("compute").to_owned();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        Ok::<_, Error>(CallToolResult::text(format!("Computation \"{label}\" completed after {seconds} seconds. Result: 42.")))
    })
    .tool_tasks("slow_compute", TaskPolicy::optional())
    .tool(tool("failing_job", "A task that ends with a tool error", no_args()), |_c: RequestContext, _a: Args| async move {
        sleep_ms(1000).await;
        Err::<CallToolResult, _>(Error::tool("the job failed: the input was rejected"))
    })
    .tool_tasks("failing_job", TaskPolicy::required())
    .tool(tool("protocol_error_job", "A task that ends with a JSON-RPC error", no_args()), |_c: RequestContext, _a: Args| async move {
        sleep_ms(500).await;
        Err::<CallToolResult, _>(Error::internal("the job hit an internal error"))
    })
    .tool_tasks("protocol_error_job", TaskPolicy::required())
    .tool(tool("confirm_delete", "Asks for confirmation inside the task, then deletes", json!({"type": "object", "properties": {"filename": {"type": "string"}}})), move |ctx: RequestContext, a: Args| async move {
        let file = a.get("filename").and_then(Value::as_str).unwrap_or("file.txt").to_owned();
        let r = ctx.elicit("confirm", confirm_form(format!("Delete '{file}'?"))).await?;
        let yes = accepted(&r).and_then(|c| c.get("confirm")).and_then(Value::as_bool) == Some(true);
        Ok::<_, Error>(CallToolResult::text(if yes { format!("deleted '{file}'") } else { format!("kept '{file}'") }))
    })
    .tool_tasks("confirm_delete", TaskPolicy::required())
    .tool(tool("multi_input", "Asks two questions at once inside the task", no_args()), move |ctx: RequestContext, _a: Args| async move {
        let answers = ctx
            .ask(vec![
                ("name".into(), InputRequest::Elicit(ElicitRequestParams::form("Enter your name:", json!({"type": "object", "properties": {"name": {"type": "string"}}})))),
                ("confirm".into(), InputRequest::Elicit(confirm_form("Confirm action?".into()))),
            ])
            .await?;
        Ok::<_, Error>(CallToolResult::text(format!("Received {} answers", answers.len())))
    })
    .tool_tasks("multi_input", TaskPolicy::required())
    .tool(tool("test_tool_with_task", "Asks for a name first, then works on it as a task", no_args()), |ctx: RequestContext, _a: Args| async move {
        let r = ctx.elicit("user_name", name_form()).await?;
        let name = accepted(&r).and_then(|c| c.get("name")).map(text_of).unwrap_or_default();
        ctx.become_task();
        sleep_ms(200).await;
        Ok::<_, Error>(CallToolResult::text(format!("Hello, {name}! (computed in task)")))
    })
    .tool_tasks("test_tool_with_task", TaskPolicy::required().start_on_request())
}

fn resources(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    let resource = |uri: &str, name: &str, mime: &str| {
        Resource::new(uri, name)
            .with_description(format!("{name} resource"))
            .with_mime_type(mime)
    };
    b.text_resource("test://static-text", "Static Text Resource", "text/plain", "This is the content of the static text resource.")
        .resource(resource("test://static-binary", "Static Binary Resource", "image/png"), |_c: RequestContext, uri: String| async move {
            Ok::<_, Error>(ReadResourceResult::from(ResourceContents::blob(uri, "image/png", PNG)))
        })
        .text_resource("test://watched-resource", "Watched Resource", "text/plain", "This resource can be subscribed to.")
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data", "Template Resource")
                .with_description("A resource template with an id")
                .with_mime_type("application/json"),
            |_c: RequestContext, uri: String, vars: std::collections::HashMap<String, String>| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let body = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                Ok::<_, Error>(ReadResourceResult::new(vec![ResourceContents::text(uri, "application/json", body.to_string())]))
            },
        )
}

fn prompts(b: mcp::server::ServerBuilder) -> mcp::server::ServerBuilder {
    let prompt = |name: &str, description: &str, args: &[(&str, bool)]| {
        args.iter().fold(
            Prompt::new(name).with_description(description),
            |p, (n, req)| {
                p.with_argument(
                    PromptArgument::new(*n)
                        .with_description(format!("The {n} argument"))
                        .with_required(*req),
                )
            },
        )
    };
    let msgs = GetPromptResult::new;
    b.prompt(prompt("test_simple_prompt", "A simple prompt", &[]), move |_c: RequestContext, _a: BTreeMap<String, String>| async move {
        Ok::<_, Error>(msgs(vec![PromptMessage::user("This is a simple prompt for testing.")]))
    })
    .prompt(prompt("test_prompt_with_arguments", "A prompt with two required arguments", &[("arg1", true), ("arg2", true)]), move |_c: RequestContext, a: BTreeMap<String, String>| async move {
        let (a1, a2) = (a.get("arg1").cloned().unwrap_or_default(), a.get("arg2").cloned().unwrap_or_default());
        Ok::<_, Error>(msgs(vec![PromptMessage::user(format!("Prompt with arguments: arg1='{a1}', arg2='{a2}'"))]))
    })
    .prompt(prompt("test_prompt_with_embedded_resource", "A prompt embedding a resource", &[("resourceUri", true)]), move |_c: RequestContext, a: BTreeMap<String, String>| async move {
        let uri = a.get("resourceUri").cloned().unwrap_or_else(|| "test://example-resource".into());
        Ok::<_, Error>(msgs(vec![
            PromptMessage::new(Role::User, ContentBlock::resource(ResourceContents::text(uri, "text/plain", "Embedded resource content for testing."))),
            PromptMessage::user("Please process the embedded resource above."),
        ]))
    })
    .prompt(prompt("test_prompt_with_image", "A prompt with an image", &[]), move |_c: RequestContext, _a: BTreeMap<String, String>| async move {
        Ok::<_, Error>(msgs(vec![
            PromptMessage::new(Role::User, ContentBlock::image(PNG, "image/png")),
            PromptMessage::user("Please analyze the image above."),
        ]))
    })
    .prompt(prompt("test_input_required_result_prompt", "A prompt that asks for context first", &[]), move |ctx: RequestContext, _a: BTreeMap<String, String>| async move {
        let r = ctx
            .elicit("user_context", ElicitRequestParams::form("What context should the prompt use?", json!({"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]})))
            .await?;
        let context = accepted(&r).and_then(|c| c.get("context")).map(text_of).unwrap_or_else(|| "none".into());
        Ok::<_, Error>(msgs(vec![PromptMessage::user(format!("Prompt using context: {context}"))]))
    })
    .completion(|_c: RequestContext, p: mcp::protocol::types::CompleteParams| async move {
        let values: Vec<String> = ["test1", "test2", "test3"].iter().filter(|v| v.starts_with(&p.argument.value) || p.argument.value.is_empty()).map(|s| s.to_string()).collect();
        let total = values.len() as u64;
        Ok::<_, Error>(CompleteResult::new(values).with_total(total))
    })
}
