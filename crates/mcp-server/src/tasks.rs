//! The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663), server side.
//!
//! A tool registered with a [`TaskPolicy`] ([`ServerBuilder::tool_tasks`](crate::ServerBuilder::tool_tasks))
//! runs as a task for a 2026-07-28 client that declares the extension in that request's capabilities: the
//! `tools/call` is answered at once with the task (`resultType: "task"`), stored before the answer leaves, and
//! the client polls `tasks/get`, answers questions with `tasks/update` and may `tasks/cancel`. A client that
//! does not declare the extension gets a plain result from the same handler (or `-32021` for a task-required
//! tool), so a handler is written once.
//!
//! Inside a task, `ctx.elicit(..)` (and sampling, roots) works as on any 2026-07-28 request: an unanswered
//! question ends the round, the task's status becomes `input_required` with the question in `inputRequests`,
//! and once `tasks/update` has answered every open question the handler runs again from the top with the
//! answers present (and the round state it saved). A handler that should ask before the task exists (the
//! answers then come back in the `tools/call` retry, synchronously) uses [`TaskPolicy::start_on_request`] and
//! calls [`RequestContext::become_task`](crate::RequestContext::become_task) once it has what it needs.
//!
//! Tasks live in memory, bounded ([`TaskOptions::max_tasks`]) and kept [`TaskOptions::ttl`] after creation.
//! Ids are 128 random bits, and a task answers only the principal that created it.
//!
//! ```
//! use std::time::Duration;
//! use mcp_server::{Error, RequestContext, Server, TaskPolicy};
//! use mcp_protocol::types::{CallToolResult, Tool};
//!
//! let server = Server::builder("builds", "1.0.0")
//!     .tool(Tool::new("build", serde_json::json!({"type": "object"})), |ctx: RequestContext, _args| async move {
//!         // Runs inline for clients without tasks, as a task for those with them.
//!         tokio::time::sleep(Duration::from_millis(10)).await;
//!         Ok::<_, Error>(CallToolResult::text(if ctx.is_task() { "built (task)" } else { "built" }))
//!     })
//!     .tool_tasks("build", TaskPolicy::optional())
//!     .build();
//! # let _ = server;
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use mcp_protocol::types::indexmap_like::OrderedMap;
use mcp_protocol::types::{
    CallToolResult, DetailedTask, InputRequest, Task, TaskIdParams, TaskStatus, UpdateTaskParams,
    TASKS_EXTENSION,
};
use mcp_protocol::{error_code, ErrorObject, JsonObject};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::context::Principal;

/// Whether a tool may, or must, run as a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskSupport {
    /// A task for clients that declare the extension, a plain result for the others.
    Optional,
    /// Only as a task: clients that do not declare the extension get `-32021`.
    Required,
}

/// How a tool takes part in the tasks extension. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskPolicy {
    /// Whether the tool may or must be a task.
    pub support: TaskSupport,
    /// `false` (the default): the task exists from the start. `true`: the handler runs inline until it calls
    /// [`RequestContext::become_task`](crate::RequestContext::become_task); questions it asks before that are
    /// answered through the `tools/call` itself (`input_required`, then a retry), and a handler that finishes
    /// without becoming a task answers plainly (an `Optional` tool) or as an already completed task (a
    /// `Required` one).
    pub start_on_request: bool,
}

impl TaskPolicy {
    /// A task for clients that declare the extension, a plain result for the others.
    pub fn optional() -> Self {
        Self {
            support: TaskSupport::Optional,
            start_on_request: false,
        }
    }
    /// Only as a task; `-32021` for clients that do not declare the extension.
    pub fn required() -> Self {
        Self {
            support: TaskSupport::Required,
            start_on_request: false,
        }
    }
    /// Run inline until the handler calls [`RequestContext::become_task`](crate::RequestContext::become_task).
    pub fn start_on_request(mut self) -> Self {
        self.start_on_request = true;
        self
    }
}

/// Tunables of the task store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskOptions {
    /// How long a task is kept after its creation, whatever its status (default 5 minutes); sent as `ttlMs`.
    pub ttl: Duration,
    /// The polling interval suggested to clients (default 500 ms); sent as `pollIntervalMs`.
    pub poll_interval: Duration,
    /// At most this many tasks are kept at once (default 10 000); a call that would create one more is refused
    /// with an error naming this setting.
    pub max_tasks: usize,
}

impl Default for TaskOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            poll_interval: Duration::from_millis(500),
            max_tasks: 10_000,
        }
    }
}

impl TaskOptions {
    /// Sets [`ttl`](#structfield.ttl).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Sets [`poll_interval`](#structfield.poll_interval).
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }
    /// Sets [`max_tasks`](#structfield.max_tasks).
    pub fn max_tasks(mut self, max_tasks: usize) -> Self {
        self.max_tasks = max_tasks;
        self
    }
}

/// The `-32021` a client gets for a tasks request (or a task-required tool) without declaring the extension.
pub(crate) fn missing_tasks_capability(what: &str) -> ErrorObject {
    ErrorObject::new(
        error_code::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "{what} needs the tasks extension: declare \"{TASKS_EXTENSION}\" under extensions in the request's \
             client capabilities"
        ),
    )
    .with_data(json!({ "requiredCapabilities": { "extensions": { TASKS_EXTENSION: {} } } }))
}

/// What a round of a task produced.
pub(crate) enum RoundEnd {
    /// The tool's result (a tool error included).
    Completed(Value),
    /// A JSON-RPC error.
    Failed(ErrorObject),
    /// Questions the client must answer, with the answers and round state gathered so far.
    InputRequired {
        asks: Vec<(String, InputRequest)>,
        responses: JsonObject,
        round_state: Option<Value>,
    },
    /// The handler saw the cancellation and stopped.
    Cancelled,
}

/// Runs one more round of a task's handler, given the answers and round state so far (the round sees the
/// task's cancellation through its context).
pub(crate) type Rerun = Arc<
    dyn Fn(JsonObject, Option<Value>) -> futures::future::BoxFuture<'static, RoundEnd>
        + Send
        + Sync,
>;

struct TaskState {
    status: TaskStatus,
    status_message: Option<String>,
    updated: SystemTime,
    /// Questions still open (`input_required`), in the order asked.
    pending: Vec<(String, InputRequest)>,
    /// Answers gathered for the next round.
    responses: JsonObject,
    round_state: Option<Value>,
    result: Option<Value>,
    error: Option<ErrorObject>,
    rerun: Option<Rerun>,
}

struct TaskRecord {
    id: String,
    owner: Option<Principal>,
    created: SystemTime,
    expires: Instant,
    cancel: CancellationToken,
    state: Mutex<TaskState>,
}

/// The tasks of one server: the tools' policies and the store.
pub(crate) struct Tasks {
    pub policies: HashMap<String, TaskPolicy>,
    pub options: TaskOptions,
    map: Mutex<HashMap<String, Arc<TaskRecord>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_task_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn same_owner(a: &Option<Principal>, b: &Option<Principal>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_caller(b),
        _ => false,
    }
}

impl Tasks {
    pub fn new(policies: HashMap<String, TaskPolicy>, options: TaskOptions) -> Self {
        Self {
            policies,
            options,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Store a new task in `working` state; refused when the store is full of live tasks.
    pub fn create(
        &self,
        owner: Option<Principal>,
        cancel: CancellationToken,
    ) -> Result<String, ErrorObject> {
        let now = Instant::now();
        let mut map = lock(&self.map);
        if map.len() >= self.options.max_tasks {
            map.retain(|_, t| t.expires > now);
        }
        if map.len() >= self.options.max_tasks {
            return Err(ErrorObject::internal(format!(
                "this server already keeps {} tasks (the max_tasks setting of TaskOptions); try again later",
                self.options.max_tasks
            )));
        }
        let id = new_task_id();
        let created = SystemTime::now();
        map.insert(
            id.clone(),
            Arc::new(TaskRecord {
                id: id.clone(),
                owner,
                created,
                expires: now + self.options.ttl,
                cancel: cancel.clone(),
                state: Mutex::new(TaskState {
                    status: TaskStatus::Working,
                    status_message: None,
                    updated: created,
                    pending: Vec::new(),
                    responses: JsonObject::new(),
                    round_state: None,
                    result: None,
                    error: None,
                    rerun: None,
                }),
            }),
        );
        Ok(id)
    }

    fn find(&self, id: &str, caller: &Option<Principal>) -> Result<Arc<TaskRecord>, ErrorObject> {
        let now = Instant::now();
        let mut map = lock(&self.map);
        let found = map.get(id).cloned();
        match found {
            Some(t) if t.expires <= now => {
                map.remove(id);
                t.cancel.cancel();
                Err(unknown_task(id))
            }
            // Another caller's task is reported exactly like a missing one: its existence is not disclosed.
            Some(t) if same_owner(&t.owner, caller) => Ok(t),
            _ => Err(unknown_task(id)),
        }
    }

    /// The task's wire form (`CreateTaskResult` body, or `tasks/get` with `detailed`).
    fn describe(&self, t: &TaskRecord, detailed: bool) -> Value {
        let s = lock(&t.state);
        let task = Task {
            task_id: t.id.clone(),
            status: s.status,
            status_message: s.status_message.clone(),
            created_at: rfc3339(t.created),
            last_updated_at: rfc3339(s.updated),
            ttl_ms: Some(self.options.ttl.as_millis() as u64),
            poll_interval_ms: Some(self.options.poll_interval.as_millis().max(1) as u64),
        };
        if !detailed {
            return serde_json::to_value(task).unwrap_or_default();
        }
        let d = DetailedTask {
            task,
            input_requests: (s.status == TaskStatus::InputRequired)
                .then(|| OrderedMap(s.pending.clone())),
            result: (s.status == TaskStatus::Completed)
                .then(|| s.result.clone())
                .flatten(),
            error: (s.status == TaskStatus::Failed)
                .then(|| s.error.clone())
                .flatten(),
        };
        serde_json::to_value(d).unwrap_or_default()
    }

    /// The `CreateTaskResult` body of a stored task.
    pub fn created(&self, id: &str) -> Value {
        let t = lock(&self.map).get(id).cloned();
        match t {
            Some(t) => self.describe(&t, false),
            None => Value::Null,
        }
    }

    /// Record how a round ended; an `input_required` round keeps `rerun` for when the answers are in.
    pub fn finish_round(&self, id: &str, end: RoundEnd, rerun: Option<Rerun>) {
        let Some(t) = lock(&self.map).get(id).cloned() else {
            return;
        };
        let mut s = lock(&t.state);
        if s.status.is_terminal() {
            return;
        }
        s.updated = SystemTime::now();
        match end {
            RoundEnd::Completed(result) => {
                s.status = TaskStatus::Completed;
                s.result = Some(result);
            }
            RoundEnd::Failed(e) => {
                s.status = TaskStatus::Failed;
                s.status_message = Some(e.message.clone());
                s.error = Some(e);
            }
            RoundEnd::InputRequired {
                asks,
                responses,
                round_state,
            } => {
                s.status = TaskStatus::InputRequired;
                s.pending = asks;
                s.responses = responses;
                s.round_state = round_state;
                s.rerun = rerun;
            }
            RoundEnd::Cancelled => s.status = TaskStatus::Cancelled,
        }
    }

    /// `tasks/get`.
    pub fn get(
        &self,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<Value, ErrorObject> {
        let p: TaskIdParams = parse(params)?;
        let t = self.find(&p.task_id, caller)?;
        Ok(self.describe(&t, true))
    }

    /// `tasks/update`: take the answers to open questions (others are ignored); once none is open, the next
    /// round starts. Answered questions leave `inputRequests` before the acknowledgement is sent.
    pub fn update(
        self: &Arc<Self>,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<(), ErrorObject> {
        let p: UpdateTaskParams = parse(params)?;
        let t = self.find(&p.task_id, caller)?;
        let next = {
            let mut s = lock(&t.state);
            if s.status != TaskStatus::InputRequired {
                return Ok(());
            }
            let TaskState {
                pending, responses, ..
            } = &mut *s;
            pending.retain(|(key, _)| match p.input_responses.get(key) {
                Some(answer) => {
                    responses.insert(key.clone(), answer.clone());
                    false
                }
                None => true,
            });
            if !s.pending.is_empty() {
                return Ok(());
            }
            s.status = TaskStatus::Working;
            s.updated = SystemTime::now();
            let rerun = s.rerun.take();
            rerun.map(|r| (r, std::mem::take(&mut s.responses), s.round_state.take()))
        };
        if let Some((rerun, responses, round_state)) = next {
            self.spawn_round(
                t.id.clone(),
                t.cancel.clone(),
                rerun,
                responses,
                round_state,
            );
        }
        Ok(())
    }

    /// Run a round in the background and record how it ends.
    pub fn spawn_round(
        self: &Arc<Self>,
        id: String,
        cancel: CancellationToken,
        rerun: Rerun,
        responses: JsonObject,
        round_state: Option<Value>,
    ) {
        let round = rerun(responses, round_state);
        self.spawn_end(id, cancel, round, rerun);
    }

    /// Drive `round` (the rest of a handler already running, or a new round) to its end in the background.
    pub fn spawn_end(
        self: &Arc<Self>,
        id: String,
        cancel: CancellationToken,
        round: impl Future<Output = RoundEnd> + Send + 'static,
        rerun: Rerun,
    ) {
        let tasks = self.clone();
        tokio::spawn(async move {
            let end = tokio::select! {
                end = std::panic::AssertUnwindSafe(round).catch_unwind() => match end {
                    Ok(end) => end,
                    Err(_) => {
                        tracing::error!(task = %id, "task handler panicked");
                        RoundEnd::Failed(ErrorObject::internal("handler panicked"))
                    }
                },
                // Cancelled: `tasks/cancel` already recorded it; the handler is dropped here.
                _ = cancel.cancelled() => return,
            };
            tasks.finish_round(&id, end, Some(rerun));
        });
    }

    /// `tasks/cancel`: acknowledged for any task of the caller's, terminal ones included.
    pub fn cancel(
        &self,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<(), ErrorObject> {
        let p: TaskIdParams = parse(params)?;
        let t = self.find(&p.task_id, caller)?;
        let mut s = lock(&t.state);
        if !s.status.is_terminal() {
            s.status = TaskStatus::Cancelled;
            s.updated = SystemTime::now();
            s.pending.clear();
            s.rerun = None;
            t.cancel.cancel();
        }
        Ok(())
    }

    /// Store a task that already ended (a task-required tool that finished inline).
    pub fn create_finished(
        &self,
        owner: Option<Principal>,
        end: RoundEnd,
    ) -> Result<String, ErrorObject> {
        let id = self.create(owner, CancellationToken::new())?;
        self.finish_round(&id, end, None);
        Ok(id)
    }
}

fn unknown_task(id: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!("unknown task {id:?} (expired, or never created)"))
}

fn parse<T: serde::de::DeserializeOwned>(params: Option<&Value>) -> Result<T, ErrorObject> {
    T::deserialize(params.unwrap_or(&Value::Null)).map_err(ErrorObject::invalid_params)
}

/// A tool's result as the task stores it: the `CallToolResult` the plain `tools/call` would have answered. Tasks
/// exist only at 2026-07-28, whose `CallToolResult` requires `resultType`, so a peer that reads the inlined
/// `result` as one (the extension says it has the original request's result type) finds it there too.
pub(crate) fn result_value(r: &CallToolResult) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        o.entry("resultType")
            .or_insert_with(|| Value::String("complete".into()));
    }
    v
}

/// `t` as RFC 3339 UTC with millisecond precision (`2026-12-05T22:08:17.123Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since the epoch to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_796_508_497), "2026-12-05T22:08:17.000Z");
    }

    #[test]
    fn a_completed_tasks_result_carries_result_type_like_a_plain_answer() {
        let v = result_value(&CallToolResult::text("done"));
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["content"][0]["text"], "done");
        let v = result_value(&CallToolResult::error("no"));
        assert_eq!(v["resultType"], "complete");
        assert_eq!(v["isError"], true);
    }

    #[test]
    fn ids_are_128_random_bits() {
        let (a, b) = (new_task_id(), new_task_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn a_full_store_refuses_and_names_the_setting() {
        let tasks = Tasks::new(HashMap::new(), TaskOptions::default().max_tasks(1));
        tasks.create(None, CancellationToken::new()).unwrap();
        let e = tasks.create(None, CancellationToken::new()).unwrap_err();
        assert!(e.message.contains("max_tasks"), "{}", e.message);
    }

    #[test]
    fn another_callers_task_is_unknown() {
        let tasks = Tasks::new(HashMap::new(), TaskOptions::default());
        let alice = Some(Principal {
            subject: "alice".into(),
            scopes: vec![],
            client_id: None,
        });
        let id = tasks
            .create(alice.clone(), CancellationToken::new())
            .unwrap();
        let params = json!({ "taskId": id });
        assert!(tasks.get(Some(&params), &alice).is_ok());
        let e = tasks.get(Some(&params), &None).unwrap_err();
        assert_eq!(e.code, error_code::INVALID_PARAMS);
    }
}
