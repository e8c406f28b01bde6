//! Method names.
#![allow(missing_docs)]

pub const INITIALIZE: &str = "initialize";
pub const PING: &str = "ping";
pub const DISCOVER: &str = "server/discover";
pub const TOOLS_LIST: &str = "tools/list";
pub const TOOLS_CALL: &str = "tools/call";
pub const RESOURCES_LIST: &str = "resources/list";
pub const RESOURCES_TEMPLATES_LIST: &str = "resources/templates/list";
pub const RESOURCES_READ: &str = "resources/read";
pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
pub const PROMPTS_LIST: &str = "prompts/list";
pub const PROMPTS_GET: &str = "prompts/get";
pub const COMPLETION_COMPLETE: &str = "completion/complete";
pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
pub const ELICITATION_CREATE: &str = "elicitation/create";
pub const ROOTS_LIST: &str = "roots/list";
/// Skills extension: the skills a server offers.
pub const SKILLS_LIST: &str = "skills/list";
/// Skills extension: one skill.
pub const SKILLS_GET: &str = "skills/get";
/// The direct children of a directory resource (the skills extension's `directoryRead`).
pub const RESOURCES_DIRECTORY_READ: &str = "resources/directory/read";
/// Tasks extension: a task's status and outcome.
pub const TASKS_GET: &str = "tasks/get";
/// Tasks extension: answers to a task's open questions.
pub const TASKS_UPDATE: &str = "tasks/update";
/// Tasks extension: cancel a task.
pub const TASKS_CANCEL: &str = "tasks/cancel";

pub const NOTIF_INITIALIZED: &str = "notifications/initialized";
pub const NOTIF_CANCELLED: &str = "notifications/cancelled";
pub const NOTIF_PROGRESS: &str = "notifications/progress";
pub const NOTIF_MESSAGE: &str = "notifications/message";
pub const NOTIF_TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
pub const NOTIF_PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
pub const NOTIF_RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
pub const NOTIF_RESOURCES_UPDATED: &str = "notifications/resources/updated";
pub const NOTIF_ROOTS_LIST_CHANGED: &str = "notifications/roots/list_changed";
pub const NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";
pub const NOTIF_ELICITATION_COMPLETE: &str = "notifications/elicitation/complete";
/// Tasks extension: a task's status changed (params: the `DetailedTask`), on `subscriptions/listen`.
pub const NOTIF_TASKS: &str = "notifications/tasks";

/// Whether `method` is a request or notification method of the protocol or of an extension this crate
/// implements (so no extension may take its name).
pub fn is_core(method: &str) -> bool {
    matches!(
        method,
        INITIALIZE
            | PING
            | DISCOVER
            | TOOLS_LIST
            | TOOLS_CALL
            | RESOURCES_LIST
            | RESOURCES_TEMPLATES_LIST
            | RESOURCES_READ
            | RESOURCES_SUBSCRIBE
            | RESOURCES_UNSUBSCRIBE
            | PROMPTS_LIST
            | PROMPTS_GET
            | COMPLETION_COMPLETE
            | LOGGING_SET_LEVEL
            | SUBSCRIPTIONS_LISTEN
            | SAMPLING_CREATE_MESSAGE
            | ELICITATION_CREATE
            | ROOTS_LIST
            | TASKS_GET
            | TASKS_UPDATE
            | TASKS_CANCEL
    ) || method.starts_with("notifications/")
}

/// The OpenTelemetry attribute (MCP semantic conventions) under which a span records what a request of
/// `method` names: the tool, the prompt or the resource URI; `None` for methods that name nothing. Client
/// and server spans use the same names, so one query finds both sides of a call.
///
/// ```
/// use mcp_protocol::types::methods::{target_attribute, RESOURCES_READ, TOOLS_CALL, TOOLS_LIST};
/// assert_eq!(target_attribute(TOOLS_CALL), Some("gen_ai.tool.name"));
/// assert_eq!(target_attribute(RESOURCES_READ), Some("mcp.resource.uri"));
/// assert_eq!(target_attribute(TOOLS_LIST), None);
/// ```
pub fn target_attribute(method: &str) -> Option<&'static str> {
    match method {
        TOOLS_CALL => Some("gen_ai.tool.name"),
        PROMPTS_GET => Some("gen_ai.prompt.name"),
        m if m.starts_with("resources/") => Some("mcp.resource.uri"),
        _ => None,
    }
}
