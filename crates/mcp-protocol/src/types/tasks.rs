//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663): a `tools/call` answered with a task the
//! client polls (`tasks/get`), feeds with answers (`tasks/update`) and may cancel (`tasks/cancel`).
//!
//! The client opts in per request, by naming the extension in its capabilities
//! (`_meta["io.modelcontextprotocol/clientCapabilities"].extensions`); the server alone decides whether a call
//! becomes a task.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::indexmap_like::OrderedMap;
use super::InputRequest;
use crate::{ErrorObject, JsonObject};

/// The extension's identifier, the key under `capabilities.extensions` on both sides.
pub const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskStatus {
    /// Running.
    Working,
    /// Waiting for the client's answers to its `inputRequests` (sent with `tasks/update`).
    InputRequired,
    /// Done; the tool's result (which may be a tool error, `isError`) is inlined.
    Completed,
    /// Ended by a JSON-RPC error, inlined.
    Failed,
    /// Cancelled by `tasks/cancel`.
    Cancelled,
}

impl TaskStatus {
    /// Whether nothing more will happen to the task.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What every task answer carries: the task's identity, status and timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task's id (unguessable; the `Mcp-Name` of its `tasks/*` requests).
    pub task_id: String,
    /// Where it is.
    pub status: TaskStatus,
    /// A human-readable note on the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When its status last changed (RFC 3339).
    pub last_updated_at: String,
    /// How long the server keeps it after creation, in milliseconds; `null` for no limit. Always written.
    pub ttl_ms: Option<u64>,
    /// How often the client should poll, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
}

/// A `tasks/get` answer: the task, with what its status makes available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedTask {
    /// The task.
    #[serde(flatten)]
    pub task: Task,
    /// `input_required`: the questions still open, by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<OrderedMap<InputRequest>>,
    /// `completed`: the tool's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `failed`: the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// Params of `tasks/get` and `tasks/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdParams {
    /// The task.
    pub task_id: String,
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

/// Params of `tasks/update`: answers to some or all of the task's open questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTaskParams {
    /// The task.
    pub task_id: String,
    /// Answers by question key (an `ElicitResult`, a `CreateMessageResult` or a `ListRootsResult`).
    #[serde(default)]
    pub input_responses: JsonObject,
    /// Request metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<JsonObject>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_always_writes_ttl_and_never_absent_optionals() {
        let t = Task {
            task_id: "t".into(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: "2026-12-05T00:00:00Z".into(),
            last_updated_at: "2026-12-05T00:00:00Z".into(),
            ttl_ms: None,
            poll_interval_ms: Some(500),
        };
        let v = serde_json::to_value(DetailedTask {
            task: t,
            input_requests: None,
            result: None,
            error: None,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"taskId": "t", "status": "working", "createdAt": "2026-12-05T00:00:00Z",
                   "lastUpdatedAt": "2026-12-05T00:00:00Z", "ttlMs": null, "pollIntervalMs": 500})
        );
        assert!(TaskStatus::Cancelled.is_terminal() && !TaskStatus::InputRequired.is_terminal());
        let p: UpdateTaskParams = serde_json::from_value(
            json!({"taskId": "t", "inputResponses": {"k": {"action": "decline"}}}),
        )
        .unwrap();
        assert_eq!(p.input_responses["k"]["action"], "decline");
    }
}
