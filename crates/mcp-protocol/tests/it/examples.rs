//! Every official 2026-07-28 example (`shared/spec/2026-07-28/examples/<Type>/*.json`) parses into our type for
//! `<Type>` and serializes back to the same JSON (compared as `serde_json::Value`).
//!
//! Envelopes (`*Request`, `*Notification`, `*ResultResponse`, error responses) go through [`Message`] first, and
//! their `params` / `result` / `error.data` through the typed payload, so the whole message is checked.
//!
//! Coverage cannot shrink silently: a folder with no entry in [`table`] fails the test, and so does an entry
//! with no folder.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mcp_protocol::error_code;
use mcp_protocol::types::{methods, *};
use mcp_protocol::{ErrorObject, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Parse one example's JSON into our type and give back what we serialize.
type Check = fn(&Value) -> Result<Value, String>;

/// Parse into `T`, serialize back.
fn typed<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(T, Value), String> {
    let t: T = serde_json::from_value(v.clone())
        .map_err(|e| format!("does not parse as {}: {e}", std::any::type_name::<T>()))?;
    let back = serde_json::to_value(&t).map_err(|e| format!("does not serialize: {e}"))?;
    Ok((t, back))
}

fn plain<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    typed::<T>(v).map(|(_, back)| back)
}

/// Parse into `T` and check the variant it landed in.
fn plain_is<T: DeserializeOwned + Serialize>(
    v: &Value,
    what: &str,
    ok: fn(&T) -> bool,
) -> Result<Value, String> {
    let (t, back) = typed::<T>(v)?;
    if ok(&t) {
        Ok(back)
    } else {
        Err(format!("parsed, but not as {what}"))
    }
}

/// A 2026-07-28 result that must read as `resultType: complete`.
fn complete<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    plain_is::<Outcome<T>>(v, "Outcome::Complete", |o| {
        matches!(o, Outcome::Complete(_))
    })
}

fn input_request(v: &Value, method: &str) -> Result<Value, String> {
    let (r, back) = typed::<InputRequest>(v)?;
    if r.method() == method {
        Ok(back)
    } else {
        Err(format!("parsed as {}, expected {method}", r.method()))
    }
}

fn parse_message(v: &Value) -> Result<Message, String> {
    Message::from_value(v.clone()).map_err(|e| format!("not a JSON-RPC message: {e}"))
}

fn to_value(m: &Message) -> Result<Value, String> {
    serde_json::to_value(m).map_err(|e| format!("message does not serialize: {e}"))
}

/// A request envelope: check the method, round-trip `params` through `payload`.
fn request(v: &Value, method: &str, payload: Check) -> Result<Value, String> {
    let Message::Request(mut r) = parse_message(v)? else {
        return Err("not a request".into());
    };
    if r.method != method {
        return Err(format!("method {:?}, expected {method:?}", r.method));
    }
    let params = r.params.take().ok_or("no params")?;
    r.params = Some(payload(&params).map_err(|e| format!("params: {e}"))?);
    to_value(&Message::Request(r))
}

/// A notification envelope: check the method, round-trip `params` (when present) through `payload`.
fn notification(v: &Value, method: &str, payload: Check) -> Result<Value, String> {
    let Message::Notification(mut n) = parse_message(v)? else {
        return Err("not a notification".into());
    };
    if n.method != method {
        return Err(format!("method {:?}, expected {method:?}", n.method));
    }
    if let Some(params) = n.params.take() {
        n.params = Some(payload(&params).map_err(|e| format!("params: {e}"))?);
    }
    to_value(&Message::Notification(n))
}

/// A result envelope: round-trip `result` through `payload`.
fn response(v: &Value, payload: Check) -> Result<Value, String> {
    let Message::Response(mut r) = parse_message(v)? else {
        return Err("not a result response".into());
    };
    r.result = payload(&r.result).map_err(|e| format!("result: {e}"))?;
    to_value(&Message::Response(r))
}

/// An error envelope: check the code, round-trip `error.data` through `data` when given.
fn error_response(v: &Value, code: i64, data: Option<Check>) -> Result<Value, String> {
    let Message::Error(mut e) = parse_message(v)? else {
        return Err("not an error response".into());
    };
    if e.error.code != code {
        return Err(format!("code {}, expected {code}", e.error.code));
    }
    if let Some(check) = data {
        let d = e.error.data.take().ok_or("no error.data")?;
        e.error.data = Some(check(&d).map_err(|err| format!("error.data: {err}"))?);
    }
    to_value(&Message::Error(e))
}

/// A bare JSON-RPC error object (the schema's `ParseError`, `InternalError`, ...).
fn error_object(v: &Value, code: i64) -> Result<Value, String> {
    let (e, back) = typed::<ErrorObject>(v)?;
    if e.code == code {
        Ok(back)
    } else {
        Err(format!("code {}, expected {code}", e.code))
    }
}

/// Folder (schema type name) → how to read it.
fn table() -> Vec<(&'static str, Check)> {
    vec![
        // Content and resource contents.
        ("AudioContent", |v| {
            plain_is::<ContentBlock>(v, "audio", |c| matches!(c, ContentBlock::Audio(_)))
        }),
        ("ImageContent", |v| {
            plain_is::<ContentBlock>(v, "image", |c| matches!(c, ContentBlock::Image(_)))
        }),
        ("TextContent", |v| {
            plain_is::<ContentBlock>(v, "text", |c| matches!(c, ContentBlock::Text(_)))
        }),
        ("EmbeddedResource", |v| {
            plain_is::<ContentBlock>(v, "resource", |c| matches!(c, ContentBlock::Resource(_)))
        }),
        ("ResourceLink", |v| {
            plain_is::<ContentBlock>(v, "resource_link", |c| {
                matches!(c, ContentBlock::ResourceLink(_))
            })
        }),
        ("TextResourceContents", |v| {
            plain_is::<ResourceContents>(v, "text", |c| matches!(c, ResourceContents::Text { .. }))
        }),
        ("BlobResourceContents", |v| {
            plain_is::<ResourceContents>(v, "blob", |c| matches!(c, ResourceContents::Blob { .. }))
        }),
        ("ToolUseContent", |v| {
            plain_is::<SamplingContent>(v, "tool_use", |c| matches!(c, SamplingContent::ToolUse(_)))
        }),
        ("ToolResultContent", |v| {
            plain_is::<SamplingContent>(v, "tool_result", |c| {
                matches!(c, SamplingContent::ToolResult(_))
            })
        }),
        // Elicitation form fields.
        ("BooleanSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "boolean", |s| {
                matches!(s, PrimitiveSchemaDefinition::Boolean(_))
            })
        }),
        ("NumberSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "number", |s| {
                matches!(s, PrimitiveSchemaDefinition::Number(_))
            })
        }),
        ("StringSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "string", |s| {
                matches!(s, PrimitiveSchemaDefinition::String(_))
            })
        }),
        ("UntitledSingleSelectEnumSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "untitled single-select", |s| {
                matches!(s, PrimitiveSchemaDefinition::UntitledSingleSelect(_))
            })
        }),
        ("TitledSingleSelectEnumSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "titled single-select", |s| {
                matches!(s, PrimitiveSchemaDefinition::TitledSingleSelect(_))
            })
        }),
        ("UntitledMultiSelectEnumSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "untitled multi-select", |s| {
                matches!(s, PrimitiveSchemaDefinition::UntitledMultiSelect(_))
            })
        }),
        ("TitledMultiSelectEnumSchema", |v| {
            plain_is::<PrimitiveSchemaDefinition>(v, "titled multi-select", |s| {
                matches!(s, PrimitiveSchemaDefinition::TitledMultiSelect(_))
            })
        }),
        // Plain structures.
        ("ClientCapabilities", plain::<ClientCapabilities>),
        ("ServerCapabilities", plain::<ServerCapabilities>),
        ("ModelPreferences", plain::<ModelPreferences>),
        ("Resource", plain::<Resource>),
        ("Root", plain::<Root>),
        ("Tool", plain::<Tool>),
        ("SamplingMessage", plain::<SamplingMessage>),
        // Request params.
        ("CallToolRequestParams", plain::<CallToolParams>),
        ("CompleteRequestParams", plain::<CompleteParams>),
        ("CreateMessageRequestParams", plain::<CreateMessageParams>),
        ("GetPromptRequestParams", plain::<GetPromptParams>),
        ("PaginatedRequestParams", plain::<PaginatedParams>),
        ("ElicitRequestFormParams", |v| {
            plain_is::<ElicitRequestParams>(v, "form", |p| {
                matches!(p, ElicitRequestParams::Form(_))
            })
        }),
        ("ElicitRequestURLParams", |v| {
            plain_is::<ElicitRequestParams>(v, "url", |p| matches!(p, ElicitRequestParams::Url(_)))
        }),
        // Notification params.
        ("CancelledNotificationParams", plain::<CancelledParams>),
        (
            "LoggingMessageNotificationParams",
            plain::<LoggingMessageParams>,
        ),
        ("ProgressNotificationParams", plain::<ProgressParams>),
        (
            "ResourceUpdatedNotificationParams",
            plain::<ResourceUriParams>,
        ),
        // Results (2026-07-28: `resultType`, and `ttlMs`/`cacheScope` on cacheable ones).
        ("CallToolResult", complete::<CallToolResult>),
        ("CompleteResult", complete::<CompleteResult>),
        ("DiscoverResult", complete::<DiscoverResult>),
        ("GetPromptResult", complete::<GetPromptResult>),
        (
            "ListPromptsResult",
            complete::<Cacheable<ListPromptsResult>>,
        ),
        (
            "ListResourceTemplatesResult",
            complete::<Cacheable<ListResourceTemplatesResult>>,
        ),
        (
            "ListResourcesResult",
            complete::<Cacheable<ListResourcesResult>>,
        ),
        ("ListToolsResult", complete::<Cacheable<ListToolsResult>>),
        (
            "ReadResourceResult",
            complete::<Cacheable<ReadResourceResult>>,
        ),
        ("SubscriptionsListenResult", complete::<EmptyResult>),
        ("InputRequiredResult", |v| {
            plain_is::<Outcome<CallToolResult>>(v, "Outcome::InputRequired", |o| {
                matches!(o, Outcome::InputRequired(_))
            })
        }),
        // Client results (no `resultType`: they travel inside `inputResponses`).
        ("CreateMessageResult", plain::<CreateMessageResult>),
        ("ElicitResult", plain::<ElicitResult>),
        ("ListRootsResult", plain::<ListRootsResult>),
        // MRTR maps and the input requests in them (`{method, params}`, no JSON-RPC envelope).
        ("InputRequests", plain::<InputRequests>),
        ("InputResponses", plain::<InputResponses>),
        ("CreateMessageRequest", |v| {
            input_request(v, methods::SAMPLING_CREATE_MESSAGE)
        }),
        ("ElicitRequest", |v| {
            input_request(v, methods::ELICITATION_CREATE)
        }),
        ("ListRootsRequest", |v| {
            input_request(v, methods::ROOTS_LIST)
        }),
        // Request envelopes.
        ("CallToolRequest", |v| {
            request(v, methods::TOOLS_CALL, plain::<CallToolParams>)
        }),
        ("CompleteRequest", |v| {
            request(v, methods::COMPLETION_COMPLETE, plain::<CompleteParams>)
        }),
        ("DiscoverRequest", |v| {
            request(v, methods::DISCOVER, plain::<RequestParams>)
        }),
        ("GetPromptRequest", |v| {
            request(v, methods::PROMPTS_GET, plain::<GetPromptParams>)
        }),
        ("ListPromptsRequest", |v| {
            request(v, methods::PROMPTS_LIST, plain::<PaginatedParams>)
        }),
        ("ListResourceTemplatesRequest", |v| {
            request(
                v,
                methods::RESOURCES_TEMPLATES_LIST,
                plain::<PaginatedParams>,
            )
        }),
        ("ListResourcesRequest", |v| {
            request(v, methods::RESOURCES_LIST, plain::<PaginatedParams>)
        }),
        ("ListToolsRequest", |v| {
            request(v, methods::TOOLS_LIST, plain::<PaginatedParams>)
        }),
        ("ReadResourceRequest", |v| {
            request(v, methods::RESOURCES_READ, plain::<ReadResourceParams>)
        }),
        ("SubscriptionsListenRequest", |v| {
            request(v, methods::SUBSCRIPTIONS_LISTEN, plain::<ListenParams>)
        }),
        // Notification envelopes.
        ("CancelledNotification", |v| {
            notification(v, methods::NOTIF_CANCELLED, plain::<CancelledParams>)
        }),
        ("LoggingMessageNotification", |v| {
            notification(v, methods::NOTIF_MESSAGE, plain::<LoggingMessageParams>)
        }),
        ("ProgressNotification", |v| {
            notification(v, methods::NOTIF_PROGRESS, plain::<ProgressParams>)
        }),
        ("PromptListChangedNotification", |v| {
            notification(
                v,
                methods::NOTIF_PROMPTS_LIST_CHANGED,
                plain::<NotificationParams>,
            )
        }),
        ("ResourceListChangedNotification", |v| {
            notification(
                v,
                methods::NOTIF_RESOURCES_LIST_CHANGED,
                plain::<NotificationParams>,
            )
        }),
        ("ToolListChangedNotification", |v| {
            notification(
                v,
                methods::NOTIF_TOOLS_LIST_CHANGED,
                plain::<NotificationParams>,
            )
        }),
        ("ResourceUpdatedNotification", |v| {
            notification(
                v,
                methods::NOTIF_RESOURCES_UPDATED,
                plain::<ResourceUriParams>,
            )
        }),
        ("SubscriptionsAcknowledgedNotification", |v| {
            notification(
                v,
                methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED,
                plain::<SubscriptionsAcknowledgedParams>,
            )
        }),
        // Result envelopes.
        ("CallToolResultResponse", |v| {
            response(v, complete::<CallToolResult>)
        }),
        ("CompleteResultResponse", |v| {
            response(v, complete::<CompleteResult>)
        }),
        ("DiscoverResultResponse", |v| {
            response(v, complete::<DiscoverResult>)
        }),
        ("GetPromptResultResponse", |v| {
            response(v, complete::<GetPromptResult>)
        }),
        ("ListPromptsResultResponse", |v| {
            response(v, complete::<Cacheable<ListPromptsResult>>)
        }),
        ("ListResourceTemplatesResultResponse", |v| {
            response(v, complete::<Cacheable<ListResourceTemplatesResult>>)
        }),
        ("ListResourcesResultResponse", |v| {
            response(v, complete::<Cacheable<ListResourcesResult>>)
        }),
        ("ListToolsResultResponse", |v| {
            response(v, complete::<Cacheable<ListToolsResult>>)
        }),
        ("ReadResourceResultResponse", |v| {
            response(v, complete::<Cacheable<ReadResourceResult>>)
        }),
        ("SubscriptionsListenResultResponse", |v| {
            response(v, complete::<EmptyResult>)
        }),
        // Errors: full responses for the MCP-specific codes, bare error objects for the JSON-RPC ones.
        ("HeaderMismatchError", |v| {
            error_response(v, error_code::HEADER_MISMATCH, None)
        }),
        ("MissingRequiredClientCapabilityError", |v| {
            error_response(
                v,
                error_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                Some(plain::<MissingRequiredClientCapabilityData>),
            )
        }),
        ("UnsupportedProtocolVersionError", |v| {
            error_response(
                v,
                error_code::UNSUPPORTED_PROTOCOL_VERSION,
                Some(plain::<UnsupportedProtocolVersionData>),
            )
        }),
        ("ParseError", |v| error_object(v, error_code::PARSE_ERROR)),
        ("InternalError", |v| {
            error_object(v, error_code::INTERNAL_ERROR)
        }),
        ("InvalidParamsError", |v| {
            error_object(v, error_code::INVALID_PARAMS)
        }),
        ("MethodNotFoundError", |v| {
            error_object(v, error_code::METHOD_NOT_FOUND)
        }),
    ]
}

/// Members of an example that the schema does not define for its type and that our type therefore drops:
/// (file relative to `examples/`, JSON pointer, why). Each must still be present in the file, so a fixed
/// example makes its entry fail and go.
const KNOWN_EXTRA_MEMBERS: &[(&str, &str, &str)] = &[(
    "ListRootsRequest/list-roots-request.json",
    "/id",
    "a 2026-07-28 ListRootsRequest is an MRTR input request {method, params?} with no id (schema: no `id` \
     property); the example carries a stray legacy `id`",
)];

fn remove_pointer(v: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    v.pointer_mut(parent)?.as_object_mut()?.remove(key)
}

#[test]
fn every_2026_07_28_example_round_trips() {
    let Some(spec) = common::spec_root("examples") else {
        return;
    };
    let root = spec.join("2026-07-28/examples");
    assert!(root.is_dir(), "{} is missing", root.display());

    let table: BTreeMap<&str, Check> = {
        let entries = table();
        let n = entries.len();
        let map: BTreeMap<_, _> = entries.into_iter().collect();
        assert_eq!(map.len(), n, "duplicate folder names in the table");
        map
    };

    let mut folders = BTreeSet::new();
    let mut failures = Vec::new();
    let mut files = 0usize;
    let mut deviations_used = BTreeSet::new();
    for dir in sorted_entries(&root) {
        if !dir.is_dir() {
            continue;
        }
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        folders.insert(folder.clone());
        let Some(check) = table.get(folder.as_str()) else {
            failures.push(format!(
                "{folder}: no entry in the table (map it to our type)"
            ));
            continue;
        };
        for file in sorted_entries(&dir) {
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            files += 1;
            let rel = format!("{folder}/{}", file.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&file).unwrap();
            let original: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{rel}: invalid JSON: {e}"));
                    continue;
                }
            };
            let mut expected = original.clone();
            for (f, pointer, _why) in KNOWN_EXTRA_MEMBERS.iter().filter(|(f, ..)| *f == rel) {
                deviations_used.insert(*f);
                if remove_pointer(&mut expected, pointer).is_none() {
                    failures.push(format!(
                        "{rel}: listed deviation {pointer} is gone; delete the entry"
                    ));
                }
            }
            match check(&original) {
                Ok(back) if back == expected => {}
                Ok(back) => failures.push(format!(
                    "{rel}: round trip differs\n  expected: {expected}\n  got:      {back}"
                )),
                Err(e) => failures.push(format!("{rel}: {e}")),
            }
        }
    }
    for name in table.keys() {
        if !folders.contains(*name) {
            failures.push(format!("table entry {name} has no example folder"));
        }
    }
    for (f, ..) in KNOWN_EXTRA_MEMBERS {
        if !deviations_used.contains(f) {
            failures.push(format!("deviation for {f}: no such example"));
        }
    }
    println!("checked {files} example files in {} folders", folders.len());
    assert!(
        failures.is_empty(),
        "{} of {files} example files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(files > 0, "no example files found under {}", root.display());
}

fn sorted_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}
