//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663), client side: a `tools/call` the server
//! answers with a task is awaited by polling `tasks/get`, its questions are answered through the client's
//! handlers with `tasks/update`, and it is cancelled with `tasks/cancel` (never `notifications/cancelled`).

use std::collections::HashSet;
use std::time::Duration;

use mcp_protocol::types::{methods, CallToolResult, DetailedTask, SubscriptionFilter, TaskStatus};
use mcp_protocol::JsonObject;
use serde_json::{json, Value};

use super::handle::Client;
use super::inner::{parse, ReqCtx};
use super::listen::Subscription;
use super::options::CallOptions;
use crate::error::Error;

/// The polling interval when the server suggests none, and the bounds put on what it suggests.
const DEFAULT_POLL: Duration = Duration::from_millis(500);
const MIN_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_secs(5);

/// How a tool call started: done at once, or a task to follow.
#[derive(Debug)]
#[non_exhaustive]
pub enum ToolCallStart {
    /// The server answered with the result.
    Complete(CallToolResult),
    /// The server made the call a task.
    Task(TaskHandle),
}

/// A task on the server (tasks extension). Its id is all it holds, so it can be saved and resumed by another
/// process with [`Client::task`].
#[derive(Debug, Clone)]
pub struct TaskHandle {
    client: Client,
    id: String,
    poll: Duration,
}

impl Client {
    /// Start a tool call that the server may turn into a task (the client must declare the tasks extension,
    /// [`ClientBuilder::tasks`](crate::ClientBuilder::tasks)). [`call_tool`](Self::call_tool) does the same and
    /// waits for the task; this returns the [`TaskHandle`] instead, to save its id, poll or cancel.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
    /// use mcp_client::{CallOptions, ToolCallStart};
    /// match client.start_tool_call("reindex", serde_json::json!({}), CallOptions::default()).await? {
    ///     ToolCallStart::Complete(result) => println!("done at once: {:?}", result.content),
    ///     ToolCallStart::Task(task) => {
    ///         std::fs::write("task-id", task.id()).ok(); // another process may resume it
    ///         let result = task.wait().await?;
    ///         println!("done: {:?}", result.content);
    ///     }
    ///     _ => {} // a kind of answer a later revision adds
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn start_tool_call(
        &self,
        name: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<ToolCallStart, Error> {
        let v = self.call_tool_value(name, arguments, options).await?;
        if v.get("resultType").and_then(Value::as_str) == Some("task") {
            return Ok(ToolCallStart::Task(self.task_from(&v)?));
        }
        let r: CallToolResult = parse(v)?;
        self.inner.validate_output(name, &r)?;
        Ok(ToolCallStart::Complete(r))
    }

    /// A handle on task `id`, e.g. one a previous process saved.
    pub fn task(&self, id: impl Into<String>) -> TaskHandle {
        TaskHandle {
            client: self.clone(),
            id: id.into(),
            poll: DEFAULT_POLL,
        }
    }

    pub(super) fn task_from(&self, created: &Value) -> Result<TaskHandle, Error> {
        let id = created
            .get("taskId")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_result("a task result without a taskId".into()))?;
        let mut task = self.task(id);
        if let Some(ms) = created.get("pollIntervalMs").and_then(Value::as_u64) {
            task.poll = Duration::from_millis(ms).clamp(MIN_POLL, MAX_POLL);
        }
        Ok(task)
    }
}

impl TaskHandle {
    /// The task's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The task's status and, by status, its result, error or open questions (`tasks/get`).
    pub async fn get(&self) -> Result<DetailedTask, Error> {
        let v = self
            .client
            .inner
            .request(
                methods::TASKS_GET,
                Some(json!({ "taskId": self.id })),
                &ReqCtx::default(),
            )
            .await?;
        parse(v)
    }

    /// Answer some or all of the task's open questions (`tasks/update`), by key.
    pub async fn answer(&self, responses: JsonObject) -> Result<(), Error> {
        self.client
            .inner
            .request(
                methods::TASKS_UPDATE,
                Some(json!({ "taskId": self.id, "inputResponses": responses })),
                &ReqCtx::default(),
            )
            .await
            .map(drop)
    }

    /// Ask the server to cancel the task (`tasks/cancel`). Cancellation is cooperative: [`get`](Self::get)
    /// tells when it took effect.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.client
            .inner
            .request(
                methods::TASKS_CANCEL,
                Some(json!({ "taskId": self.id })),
                &ReqCtx::default(),
            )
            .await
            .map(drop)
    }

    /// Wait for the task's result, polling at the server's suggested interval and answering its questions
    /// through the client's handlers. A `failed` task is its JSON-RPC error; a `cancelled` one an error that
    /// [`is_cancelled`](Error::is_cancelled).
    pub async fn wait(&self) -> Result<CallToolResult, Error> {
        self.wait_with(&CallOptions::default()).await
    }

    /// [`wait`](Self::wait), told of the task's changes by the server instead of polling for them: a
    /// `subscriptions/listen` stream of its own asks for `notifications/tasks` on this task, and each one
    /// carries the task as [`get`](Self::get) would return it. A poll every few seconds still runs, in case
    /// a notification is lost. Falls back to [`wait`](Self::wait)'s polling when the server does not agree
    /// to notify (a legacy server, or one that does not send task notifications), or when the stream ends.
    ///
    /// Worth it for long tasks (one stream instead of a request per poll interval); for short ones, opening
    /// the stream costs more than the polls it saves.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
    /// let task = client.task(std::fs::read_to_string("task-id").unwrap_or_default());
    /// let result = task.wait_notified().await?;
    /// println!("done: {:?}", result.content);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_notified(&self) -> Result<CallToolResult, Error> {
        let filter = SubscriptionFilter {
            task_ids: Some(vec![self.id.clone()]),
            ..Default::default()
        };
        let sub = match self.client.listen(filter).await {
            Ok(sub)
                if sub
                    .acknowledged()
                    .task_ids
                    .as_ref()
                    .is_some_and(|ids| ids.contains(&self.id)) =>
            {
                Some(sub)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(task = %self.id, error = %e, "no task notifications; polling");
                None
            }
        };
        self.follow(sub).await
    }

    /// [`wait`](Self::wait), cancelled (with `tasks/cancel`) when `options.cancel` fires, and given up after
    /// `options.timeout` if one is set (the task keeps running; wait again or cancel it).
    pub(crate) async fn wait_with(&self, options: &CallOptions) -> Result<CallToolResult, Error> {
        let cancel = options.cancel.clone().unwrap_or_default();
        let work = self.follow(None);
        let timed = async {
            match options.timeout {
                Some(t) => mcp_rpc::rt::timeout(t, work)
                    .await
                    .unwrap_or_else(|_| Err(Error::timeout(t))),
                None => work.await,
            }
        };
        tokio::select! {
            r = timed => r,
            _ = cancel.cancelled() => {
                if let Err(e) = self.cancel().await {
                    tracing::debug!(task = %self.id, error = %e, "tasks/cancel failed");
                }
                Err(Error::cancelled())
            }
        }
    }

    /// Follow the task to its end: by polling, or told by `sub`'s notifications (with a slow poll besides).
    async fn follow(&self, mut sub: Option<Subscription>) -> Result<CallToolResult, Error> {
        let mut poll = self.poll;
        let mut notified: Option<DetailedTask> = None;
        // Keys are never reused within a task, so a question answered once is never answered again, even
        // when a poll comes before the server has taken the answer in.
        let mut answered: HashSet<String> = HashSet::new();
        loop {
            let t = match notified.take() {
                Some(t) => t,
                None => self.get().await?,
            };
            if let Some(ms) = t.task.poll_interval_ms {
                poll = Duration::from_millis(ms).clamp(MIN_POLL, MAX_POLL);
            }
            match t.task.status {
                TaskStatus::Completed => {
                    let result = t.result.ok_or_else(|| {
                        Error::invalid_result("a completed task without a result".into())
                    })?;
                    return parse(result);
                }
                TaskStatus::Failed => {
                    return Err(match t.error {
                        Some(e) => e.into(),
                        None => Error::invalid_result("a failed task without an error".into()),
                    })
                }
                TaskStatus::Cancelled => return Err(Error::cancelled()),
                TaskStatus::InputRequired => {
                    let mut responses = JsonObject::new();
                    for (key, req) in t.input_requests.iter().flat_map(|r| r.iter()) {
                        if answered.contains(key) {
                            continue;
                        }
                        let answer = self.client.inner.answer_input(req).await?;
                        let answer = serde_json::to_value(answer)
                            .map_err(|e| Error::protocol(e.to_string()))?;
                        responses.insert(key.clone(), answer);
                    }
                    if !responses.is_empty() {
                        answered.extend(responses.keys().cloned());
                        self.answer(responses).await?;
                        continue;
                    }
                }
                _ => {}
            }
            let Some(s) = sub.as_mut() else {
                mcp_rpc::rt::sleep(poll).await;
                continue;
            };
            tokio::select! {
                n = next_status(s, &self.id) => match n {
                    Some(t) => notified = Some(t),
                    // The stream ended: back to polling at the server's interval.
                    None => sub = None,
                },
                // In case a notification was lost (the server's events lagged), look anyway now and then.
                _ = mcp_rpc::rt::sleep(MAX_POLL) => {}
            }
        }
    }
}

/// The next `notifications/tasks` for task `id` on `sub`, as the task it carries; `None` when the stream
/// ended.
async fn next_status(sub: &mut Subscription, id: &str) -> Option<DetailedTask> {
    while let Some(n) = sub.next().await {
        if n.method != methods::NOTIF_TASKS {
            continue;
        }
        match n.params.map(serde_json::from_value::<DetailedTask>) {
            Some(Ok(t)) if t.task.task_id == id => return Some(t),
            Some(Err(e)) => tracing::debug!(error = %e, "a notifications/tasks that is not a task"),
            _ => {}
        }
    }
    None
}
