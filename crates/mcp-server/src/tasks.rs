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
//! Task records live in a [`TaskStore`]: by default in memory ([`InMemoryTaskStore`]), bounded
//! ([`TaskOptions::max_tasks`]) and kept [`TaskOptions::ttl`] after creation; [`ServerBuilder::task_store`](crate::ServerBuilder::task_store)
//! plugs another (see [`store`] for what several nodes sharing one need).
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
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use mcp_protocol::types::{
    CallToolResult, DetailedTask, InputRequest, Task, TaskIdParams, TaskStatus, UpdateTaskParams,
    TASKS_EXTENSION,
};
use mcp_protocol::{error_code, ErrorObject, JsonObject};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::Principal;

pub mod store;
pub use store::{InMemoryTaskStore, TaskOwner, TaskRecord, TaskStore, TaskStoreError};

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
    /// with an error naming this setting. It caps the default [`InMemoryTaskStore`]; a store given to
    /// [`ServerBuilder::task_store`](crate::ServerBuilder::task_store) sets its own cap.
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

/// The half of a task that cannot leave the node running it.
struct Live {
    cancel: CancellationToken,
    /// Runs the next round once the client has answered; set when the handler starts.
    rerun: Option<Rerun>,
    /// When the record expires (the live half goes with it).
    expires: Instant,
}

/// A task's status changed: what `notifications/tasks` carries to the listeners of its owner.
#[derive(Clone)]
pub(crate) struct TaskEvent {
    pub id: Arc<str>,
    pub owner: Option<TaskOwner>,
    /// The `DetailedTask`, as `tasks/get` would answer it now.
    pub task: Arc<Value>,
    /// It happened on another node of a fleet (and came over the bus): never sent back to the fleet.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub remote: bool,
}

/// The tasks of one server: the tools' policies, the store of records, and the live half of the tasks this
/// node runs.
pub(crate) struct Tasks {
    pub policies: HashMap<String, TaskPolicy>,
    pub options: TaskOptions,
    store: Arc<dyn TaskStore>,
    live: Mutex<HashMap<String, Live>>,
    events: tokio::sync::broadcast::Sender<TaskEvent>,
    /// How this node reaches the rest of its fleet (set by an HTTP endpoint with a bus).
    fleet: std::sync::OnceLock<Fleet>,
}

/// What the tasks of a node in a fleet need from its bus.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct Fleet {
    /// This node's id, recorded in the tasks it makes.
    pub node: u64,
    /// Sends "resume task *id*" to the other nodes, for a task whose live half is on another node.
    pub resume_elsewhere: Arc<dyn Fn(String) + Send + Sync>,
    /// Whether a node is known to be dead (its heartbeat expired). A bus that cannot tell says no: an outage
    /// is never taken for a death.
    pub dead: Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, bool> + Send + Sync>,
}

/// Why a task of a dead node failed.
const ORPHANED: &str =
    "the server node running this task stopped before it ended (its heartbeat expired); call the tool again";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_task_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A store failure as the client sees it.
fn store_error(e: TaskStoreError) -> ErrorObject {
    match e {
        TaskStoreError::Full { max } => ErrorObject::internal(format!(
            "this server already keeps {max} tasks (the max_tasks setting of TaskOptions); try again later"
        )),
        e => {
            tracing::error!(error = %e, "task store failed");
            ErrorObject::internal(format!("task store: {e}"))
        }
    }
}

/// How many times a change is retried when another writer got there first. Writers of one task are few (its
/// handler, its client's update and cancel), so a change that loses this often is a broken store.
const CAS_ATTEMPTS: usize = 16;

impl Tasks {
    pub fn new(
        policies: HashMap<String, TaskPolicy>,
        options: TaskOptions,
        store: Option<Arc<dyn TaskStore>>,
    ) -> Self {
        let store = store.unwrap_or_else(|| Arc::new(InMemoryTaskStore::new(options.max_tasks)));
        Self {
            policies,
            options,
            store,
            live: Mutex::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(256).0,
            fleet: std::sync::OnceLock::new(),
        }
    }

    /// Status changes of tasks, for `notifications/tasks`.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<TaskEvent> {
        self.events.subscribe()
    }

    fn emit(&self, r: &TaskRecord) {
        // Describing a task costs a serialization: only when someone listens.
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(TaskEvent {
                id: r.id().into(),
                owner: r.owner_opt().clone(),
                task: Arc::new(self.describe(r, true)),
                remote: false,
            });
        }
    }

    /// A task's status changed on another node of the fleet: tell this node's listeners.
    #[cfg(feature = "http")]
    pub(crate) fn emit_remote(&self, id: &str, owner: Option<TaskOwner>, task: Value) {
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(TaskEvent {
                id: id.into(),
                owner,
                task: Arc::new(task),
                remote: true,
            });
        }
    }

    /// Store a new task in `working` state, with this node's live half; refused when the store is full.
    pub async fn create(
        &self,
        owner: &Option<Principal>,
        cancel: CancellationToken,
    ) -> Result<TaskRecord, ErrorObject> {
        let owner = TaskOwner::of(owner);
        let mut last = TaskStoreError::Conflict;
        // A taken id (128 random bits: only a broken generator or store) is retried with another.
        for _ in 0..3 {
            let record = TaskRecord::new(
                new_task_id(),
                owner.clone(),
                self.options.ttl,
                self.options.poll_interval,
            )
            .on_node(self.fleet.get().map(|f| f.node));
            match self.store.create(record.clone()).await {
                Ok(()) => {
                    let now = Instant::now();
                    let mut live = lock(&self.live);
                    if live.len() >= self.options.max_tasks {
                        live.retain(|_, l| {
                            let keep = l.expires > now;
                            if !keep {
                                l.cancel.cancel();
                            }
                            keep
                        });
                    }
                    live.insert(
                        record.id().to_owned(),
                        Live {
                            cancel,
                            rerun: None,
                            expires: now + self.options.ttl,
                        },
                    );
                    return Ok(record);
                }
                Err(TaskStoreError::Conflict) => last = TaskStoreError::Conflict,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(store_error(last))
    }

    /// Change the record of `id` with `change` (which says whether it changed anything), by compare-and-set,
    /// retried on conflicts. `None` when there is no such task, or (`caller` given) it is not the caller's.
    /// Returns the record as it is now, and whether `change` was written. A change the client can see
    /// (`notify`) is sent to the task's listeners.
    async fn modify(
        &self,
        id: &str,
        caller: Option<&Option<TaskOwner>>,
        notify: bool,
        mut change: impl FnMut(&mut TaskRecord) -> bool,
    ) -> Result<Option<(TaskRecord, bool)>, ErrorObject> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(mut r) = self.load(id).await? else {
                return Ok(None);
            };
            if caller.is_some_and(|c| !TaskOwner::allows(r.owner_opt(), c)) {
                return Ok(None);
            }
            let expected = r.version();
            if !change(&mut r) {
                return Ok(Some((r, false)));
            }
            r.touch();
            match self.store.update(r.clone(), expected).await {
                Ok(()) => {
                    if r.status().is_terminal() {
                        lock(&self.live).remove(id);
                    }
                    if notify {
                        self.emit(&r);
                    }
                    return Ok(Some((r, true)));
                }
                Err(TaskStoreError::Conflict) => continue,
                Err(TaskStoreError::NotFound) => {
                    self.forget_live(id);
                    return Ok(None);
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ErrorObject::internal(format!(
            "task {id} kept changing while this change was applied; try again"
        )))
    }

    /// The record of `id`, unless it is past its TTL: a store may forget late (or, a simple one, never), and a
    /// task is not to outlive its `ttlMs` on any store, so such a record is deleted here.
    async fn load(&self, id: &str) -> Result<Option<TaskRecord>, ErrorObject> {
        match self.store.get(id).await.map_err(store_error)? {
            Some(r) if r.created_at() + r.ttl() > SystemTime::now() => Ok(Some(r)),
            found => {
                if found.is_some() {
                    if let Err(e) = self.store.delete(id).await {
                        tracing::warn!(task = %id, error = %e, "could not delete an expired task");
                    }
                }
                self.forget_live(id);
                Ok(None)
            }
        }
    }

    /// The store no longer has `id` (expired): stop its handler if it runs here.
    fn forget_live(&self, id: &str) {
        if let Some(l) = lock(&self.live).remove(id) {
            l.cancel.cancel();
        }
    }

    /// The caller's task `id`, or `-32602` as for a task that does not exist (another caller's task is
    /// reported exactly like a missing one: its existence is not disclosed).
    pub async fn find(
        &self,
        id: &str,
        caller: &Option<Principal>,
    ) -> Result<TaskRecord, ErrorObject> {
        let caller = TaskOwner::of(caller);
        match self.load(id).await? {
            Some(r) if TaskOwner::allows(r.owner_opt(), &caller) => self.unless_orphaned(r).await,
            _ => Err(unknown_task(id)),
        }
    }

    /// `r`, or `r` marked `failed` if the fleet node running it died: nothing can end such a task, and
    /// without this its client would see `working` (or wait on questions nobody will read) until the TTL.
    /// Whichever node sees it first writes the failure; the others find it written.
    async fn unless_orphaned(&self, r: TaskRecord) -> Result<TaskRecord, ErrorObject> {
        let (Some(node), Some(fleet)) = (r.node(), self.fleet.get()) else {
            return Ok(r);
        };
        if r.status().is_terminal() || node == fleet.node || !(fleet.dead)(node).await {
            return Ok(r);
        }
        tracing::warn!(task = %r.id(), node, "task orphaned: the node running it stopped");
        let failed = self
            .modify(r.id(), None, true, |r| {
                if r.status().is_terminal() {
                    return false;
                }
                r.fail(ErrorObject::internal(ORPHANED));
                true
            })
            .await?;
        Ok(failed.map_or(r, |(now, _)| now))
    }

    /// The task's wire form (`CreateTaskResult` body, or `tasks/get` with `detailed`).
    pub fn describe(&self, r: &TaskRecord, detailed: bool) -> Value {
        let task = Task {
            task_id: r.id().to_owned(),
            status: r.status(),
            status_message: r.status_message().cloned(),
            created_at: rfc3339(r.created_at()),
            last_updated_at: rfc3339(r.last_updated_at()),
            ttl_ms: Some(r.ttl().as_millis() as u64),
            poll_interval_ms: Some(r.poll_interval().as_millis().max(1) as u64),
        };
        if !detailed {
            return serde_json::to_value(task).unwrap_or_default();
        }
        let status = r.status();
        let d = DetailedTask {
            task,
            input_requests: (status == TaskStatus::InputRequired)
                .then(|| r.input_requests().clone()),
            result: (status == TaskStatus::Completed)
                .then(|| r.result().cloned())
                .flatten(),
            error: (status == TaskStatus::Failed)
                .then(|| r.error().cloned())
                .flatten(),
        };
        serde_json::to_value(d).unwrap_or_default()
    }

    /// Record how a round ended (nothing, if the task already ended: cancelled meanwhile, maybe on another
    /// node). The record as it is now, if the task still exists.
    pub async fn finish_round(&self, id: &str, end: RoundEnd) -> Option<TaskRecord> {
        let mut end = Some(end);
        let outcome = self
            .modify(id, None, true, |r| {
                if r.status().is_terminal() {
                    return false;
                }
                // A retry after a conflict sees the same `end`: it is only taken once written.
                match end.as_ref() {
                    Some(RoundEnd::Completed(v)) => r.complete(v.clone()),
                    Some(RoundEnd::Failed(e)) => r.fail(e.clone()),
                    Some(RoundEnd::InputRequired {
                        asks,
                        responses,
                        round_state,
                    }) => r.ask(asks.clone(), responses.clone(), round_state.clone()),
                    Some(RoundEnd::Cancelled) => r.cancel(),
                    None => return false,
                }
                true
            })
            .await;
        end.take();
        match outcome {
            Ok(found) => found.map(|(r, _)| r),
            Err(e) => {
                tracing::error!(task = %id, error = %e.message, "could not record how a task's round ended");
                None
            }
        }
    }

    /// `tasks/get`.
    pub async fn get(
        &self,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<Value, ErrorObject> {
        let p: TaskIdParams = parse(params)?;
        let r = self.find(&p.task_id, caller).await?;
        Ok(self.describe(&r, true))
    }

    /// `tasks/update`: take the answers to open questions (others are ignored); once none is open, the next
    /// round starts. Answered questions leave `inputRequests` before the acknowledgement is sent.
    pub async fn update(
        self: &Arc<Self>,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<(), ErrorObject> {
        let p: UpdateTaskParams = parse(params)?;
        let caller = TaskOwner::of(caller);
        let answers = p.input_responses;
        let changed = self
            .modify(&p.task_id, Some(&caller), true, |r| {
                r.status() == TaskStatus::InputRequired && r.answer(&answers)
            })
            .await?;
        match changed {
            None => Err(unknown_task(&p.task_id)),
            Some((r, true)) if r.status() == TaskStatus::Working => {
                // Answers for a dead node's task would be forwarded to nobody.
                let r = self.unless_orphaned(r).await?;
                if r.status() == TaskStatus::Working {
                    self.resume(r.id()).await;
                }
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }

    /// This node is part of a fleet: answers for tasks it does not run go to the other nodes, and tasks of
    /// dead nodes fail (the first call wins).
    #[cfg(feature = "http")]
    pub(crate) fn join_fleet(&self, fleet: Fleet) {
        let _ = self.fleet.set(fleet);
    }

    /// Start the next round of `id`, whose questions are all answered: here if this node runs it, else on
    /// the node of the fleet that does (told through the bus, which calls [`Tasks::resume_here`] there).
    /// Alone, a task that does not run here is marked `failed` rather than left `working` with nobody to
    /// run it.
    pub async fn resume(self: &Arc<Self>, id: &str) {
        if self.resume_here(id).await {
            return;
        }
        if let Some(fleet) = self.fleet.get() {
            (fleet.resume_elsewhere)(id.to_owned());
            return;
        }
        tracing::warn!(task = %id, "answers for a task this node does not run, and no bus to forward them");
        let _ = self
            .modify(id, None, true, |r| {
                if r.status() != TaskStatus::Working {
                    return false;
                }
                r.fail(ErrorObject::internal(
                    "the server that ran this task is gone (restarted, or another node without a way to \
                     reach it); call the tool again",
                ));
                true
            })
            .await;
    }

    /// Start the next round of `id` if this node holds its live half; `false` (nothing done) if not.
    pub async fn resume_here(self: &Arc<Self>, id: &str) -> bool {
        let local = lock(&self.live)
            .get(id)
            .and_then(|l| l.rerun.clone().map(|r| (r, l.cancel.clone())));
        let Some((rerun, cancel)) = local else {
            return false;
        };
        let mut taken = None;
        // Only the answers move from the record to the round: nothing the client sees changes.
        let started = self
            .modify(id, None, false, |r| {
                if r.status() != TaskStatus::Working {
                    return false;
                }
                taken = Some(r.take_round());
                true
            })
            .await;
        if let (Ok(Some((_, true))), Some((responses, round_state))) = (started, taken) {
            self.spawn_round(id.to_owned(), cancel, rerun, responses, round_state);
        }
        true
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
        // Kept before the round can ask anything, so an answer never finds the task without its next round.
        if let Some(l) = lock(&self.live).get_mut(&id) {
            l.rerun = Some(rerun);
        }
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
            tasks.finish_round(&id, end).await;
        });
    }

    /// `tasks/cancel`: acknowledged for any task of the caller's, terminal ones included.
    pub async fn cancel(
        &self,
        params: Option<&Value>,
        caller: &Option<Principal>,
    ) -> Result<(), ErrorObject> {
        let p: TaskIdParams = parse(params)?;
        // Not the caller's (or unknown): -32602, and its live half untouched.
        self.find(&p.task_id, caller).await?;
        // Taken out before the record is written, so the handler cannot record an end after the cancel.
        let live = lock(&self.live).remove(&p.task_id);
        let changed = self
            .modify(&p.task_id, None, true, |r| {
                if r.status().is_terminal() {
                    return false;
                }
                r.cancel();
                true
            })
            .await;
        match changed {
            Err(e) => {
                if let Some(l) = live {
                    lock(&self.live).insert(p.task_id, l);
                }
                Err(e)
            }
            Ok(found) => {
                if let Some(l) = live {
                    l.cancel.cancel();
                }
                found.map(|_| ()).ok_or_else(|| unknown_task(&p.task_id))
            }
        }
    }

    /// Store a task that already ended (a task-required tool that finished inline).
    pub async fn create_finished(
        &self,
        owner: &Option<Principal>,
        end: RoundEnd,
    ) -> Result<TaskRecord, ErrorObject> {
        let created = self.create(owner, CancellationToken::new()).await?;
        Ok(self
            .finish_round(created.id(), end)
            .await
            .unwrap_or(created))
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

    #[tokio::test]
    async fn a_full_store_refuses_and_names_the_setting() {
        let tasks = Tasks::new(HashMap::new(), TaskOptions::default().max_tasks(1), None);
        tasks.create(&None, CancellationToken::new()).await.unwrap();
        let e = tasks
            .create(&None, CancellationToken::new())
            .await
            .unwrap_err();
        assert!(e.message.contains("max_tasks"), "{}", e.message);
    }

    /// A store that never expires anything.
    #[derive(Default)]
    struct Forever(Mutex<HashMap<String, TaskRecord>>);

    impl TaskStore for Forever {
        fn create(
            &self,
            r: TaskRecord,
        ) -> futures::future::BoxFuture<'_, Result<(), TaskStoreError>> {
            lock(&self.0).insert(r.id().to_owned(), r);
            Box::pin(async { Ok(()) })
        }
        fn get<'a>(
            &'a self,
            id: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
            let r = lock(&self.0).get(id).cloned();
            Box::pin(async move { Ok(r) })
        }
        fn update(
            &self,
            r: TaskRecord,
            _expected: u64,
        ) -> futures::future::BoxFuture<'_, Result<(), TaskStoreError>> {
            lock(&self.0).insert(r.id().to_owned(), r);
            Box::pin(async { Ok(()) })
        }
        fn delete<'a>(
            &'a self,
            id: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<(), TaskStoreError>> {
            lock(&self.0).remove(id);
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_record_past_its_ttl_is_gone_whatever_the_store_keeps() {
        let store = Arc::new(Forever::default());
        // A TTL of zero: past it the moment it is created.
        let tasks = Tasks::new(
            HashMap::new(),
            TaskOptions::default().ttl(Duration::ZERO),
            Some(store.clone()),
        );
        let cancel = CancellationToken::new();
        let r = tasks.create(&None, cancel.clone()).await.unwrap();
        assert_eq!(lock(&store.0).len(), 1);
        let e = tasks
            .get(Some(&json!({ "taskId": r.id() })), &None)
            .await
            .unwrap_err();
        assert_eq!(e.code, error_code::INVALID_PARAMS);
        assert!(lock(&store.0).is_empty(), "the expired record was deleted");
        assert!(cancel.is_cancelled(), "and its handler stopped");
    }

    #[tokio::test]
    async fn a_node_sharing_the_store_answers_for_tasks_it_does_not_run() {
        let store: Arc<dyn TaskStore> = Arc::new(InMemoryTaskStore::new(10));
        let node = || {
            Arc::new(Tasks::new(
                HashMap::new(),
                TaskOptions::default(),
                Some(store.clone()),
            ))
        };
        let (a, b) = (node(), node());

        // Runs on A, cancelled through B: A's late end loses the race it can no longer win.
        let one = a.create(&None, CancellationToken::new()).await.unwrap();
        let one = json!({ "taskId": one.id() });
        assert_eq!(b.get(Some(&one), &None).await.unwrap()["status"], "working");
        b.cancel(Some(&one), &None).await.unwrap();
        let late = RoundEnd::Completed(json!({"content": []}));
        a.finish_round(one["taskId"].as_str().unwrap(), late).await;
        assert_eq!(
            a.get(Some(&one), &None).await.unwrap()["status"],
            "cancelled"
        );

        // Asks on A; the answer lands on B, which cannot run A's next round and has no bus to reach A: the
        // task fails saying so, instead of staying `working` with nobody to run it.
        let two = a.create(&None, CancellationToken::new()).await.unwrap();
        let asks = vec![("roots".to_owned(), InputRequest::ListRoots(None))];
        a.finish_round(
            two.id(),
            RoundEnd::InputRequired {
                asks,
                responses: JsonObject::new(),
                round_state: None,
            },
        )
        .await;
        let two = json!({ "taskId": two.id() });
        let t = b.get(Some(&two), &None).await.unwrap();
        assert_eq!(t["status"], "input_required", "{t}");
        assert_eq!(t["inputRequests"]["roots"]["method"], "roots/list", "{t}");
        let update = json!({ "taskId": two["taskId"], "inputResponses": {"roots": {"roots": []}} });
        b.update(Some(&update), &None).await.unwrap();
        let t = a.get(Some(&two), &None).await.unwrap();
        assert_eq!(t["status"], "failed", "{t}");
        assert!(
            t["error"]["message"].as_str().unwrap().contains("gone"),
            "{t}"
        );
    }

    #[tokio::test]
    async fn another_callers_task_is_unknown() {
        let tasks = Tasks::new(HashMap::new(), TaskOptions::default(), None);
        let alice = Some(Principal {
            subject: "alice".into(),
            scopes: vec![],
            client_id: None,
        });
        let id = tasks
            .create(&alice, CancellationToken::new())
            .await
            .unwrap()
            .id()
            .to_owned();
        let params = json!({ "taskId": id });
        assert!(tasks.get(Some(&params), &alice).await.is_ok());
        let e = tasks.get(Some(&params), &None).await.unwrap_err();
        assert_eq!(e.code, error_code::INVALID_PARAMS);
        // Nor can another caller cancel it.
        let e = tasks.cancel(Some(&params), &None).await.unwrap_err();
        assert_eq!(e.code, error_code::INVALID_PARAMS);
        let v = tasks.get(Some(&params), &alice).await.unwrap();
        assert_eq!(v["status"], "working");
    }
}
