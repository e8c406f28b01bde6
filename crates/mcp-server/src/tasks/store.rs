//! Where tasks are kept: the [`TaskStore`] trait, the serializable [`TaskRecord`] it holds, and the bounded
//! in-memory default, [`InMemoryTaskStore`].
//!
//! A task has two halves. Its **record** (status, questions, result, owner, timing) is plain data that any
//! node can read and answer `tasks/get` from; it lives in the store. Its **live** half (the running handler,
//! its cancellation token, the closure that runs the next round once the client has answered) cannot leave the
//! process that runs it and is kept there, next to the server, never in the store.
//!
//! Every change to a record is a compare-and-set on its [`version`](TaskRecord::version): read, change,
//! [`TaskStore::update`] with the version that was read. When two writers race (a `tasks/cancel` on one node
//! while the handler finishes on another), one wins and the other gets [`TaskStoreError::Conflict`], reads
//! again, and sees that the task has already ended. So a task never takes two transitions from one state.
//!
//! # Several nodes
//!
//! With a shared store (a Redis backend, issue 15) any node answers `tasks/get`, and `tasks/cancel` and
//! `tasks/update` are recorded wherever they land. Two things still need the node that runs the task, and
//! are where a message bus between nodes plugs in:
//!
//! - **Resuming after `tasks/update`.** The answers are stored in the record, but the next round runs where
//!   the handler's closure is. On the node that runs the task it starts at once. Elsewhere, without a bus,
//!   the task is marked `failed` with a message saying so, rather than left `working` forever; a bus would
//!   instead forward "resume task *id*" to the node running it.
//! - **Stopping a cancelled handler.** The cancellation is recorded wherever it lands, and the running node
//!   drops the handler's result when it next writes (its compare-and-set finds a terminal task). A bus would
//!   forward the cancel so the handler also stops early.
//!
//! Status notifications (`notifications/tasks`) are sent by the node where the change happens, to listeners
//! connected to that node; a bus would fan them out to the others.
//!
//! # Writing a store
//!
//! A store keeps records by id, applies [`update`](TaskStore::update) only when the stored version is the
//! expected one, and should forget a record once its [`ttl`](TaskRecord::ttl) has passed since
//! [`created_at`](TaskRecord::created_at) (a Redis `PX`, say). The server does not rely on it: a record it
//! reads past its TTL is treated as gone and [`delete`](TaskStore::delete)d, so even the toy below, which
//! never expires anything, keeps no task past its `ttlMs` (it only holds on to the memory).
//! Records are `serde` types: a remote store serializes them whole.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use futures::future::BoxFuture;
//! use mcp_server::tasks::{TaskRecord, TaskStore, TaskStoreError};
//!
//! /// Records as JSON text, the way a remote store would hold them (no expiry: a toy).
//! #[derive(Default)]
//! struct JsonStore(Mutex<HashMap<String, String>>);
//!
//! impl TaskStore for JsonStore {
//!     fn create(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), TaskStoreError>> {
//!         Box::pin(async move {
//!             let text = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
//!             let mut map = self.0.lock().unwrap();
//!             if map.contains_key(record.id()) {
//!                 return Err(TaskStoreError::Conflict);
//!             }
//!             map.insert(record.id().to_owned(), text);
//!             Ok(())
//!         })
//!     }
//!     fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
//!         Box::pin(async move {
//!             match self.0.lock().unwrap().get(id) {
//!                 Some(text) => serde_json::from_str(text).map(Some).map_err(TaskStoreError::backend),
//!                 None => Ok(None),
//!             }
//!         })
//!     }
//!     fn update(&self, record: TaskRecord, expected: u64) -> BoxFuture<'_, Result<(), TaskStoreError>> {
//!         Box::pin(async move {
//!             let text = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
//!             let mut map = self.0.lock().unwrap();
//!             let stored = map.get(record.id()).ok_or(TaskStoreError::NotFound)?;
//!             let stored: TaskRecord = serde_json::from_str(stored).map_err(TaskStoreError::backend)?;
//!             if stored.version() != expected {
//!                 return Err(TaskStoreError::Conflict);
//!             }
//!             map.insert(record.id().to_owned(), text);
//!             Ok(())
//!         })
//!     }
//!     fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
//!         Box::pin(async move {
//!             self.0.lock().unwrap().remove(id);
//!             Ok(())
//!         })
//!     }
//! }
//!
//! let server = mcp_server::Server::builder("jobs", "1.0.0")
//!     .tool_tasks("build", mcp_server::TaskPolicy::optional())
//!     .task_store(JsonStore::default())
//!     .build();
//! # let _ = server;
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use mcp_protocol::types::indexmap_like::OrderedMap;
use mcp_protocol::types::{InputRequest, TaskStatus};
use mcp_protocol::{ErrorObject, JsonObject};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::context::Principal;

/// Why a [`TaskStore`] operation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskStoreError {
    /// `update`: the stored version is not the expected one (someone else changed the task first); `create`:
    /// the id is taken. The caller reads again and retries.
    #[error("the task changed since it was read")]
    Conflict,
    /// `update`: no such task (never created, expired or deleted).
    #[error("no such task")]
    NotFound,
    /// `create`: the store keeps as many tasks as it may.
    #[error("the task store is full ({max} tasks)")]
    Full {
        /// The cap that was reached.
        max: usize,
    },
    /// The backend failed (a connection, a serialization).
    #[error("task store: {0}")]
    Backend(String),
}

impl TaskStoreError {
    /// A backend failure, from any error.
    pub fn backend(e: impl std::fmt::Display) -> Self {
        Self::Backend(e.to_string())
    }
}

/// Who created a task: tasks answer only the same caller (same subject through the same client; see
/// [`Principal::same_caller`]), or only unauthenticated callers when created by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOwner {
    /// The principal's subject.
    pub subject: String,
    /// The principal's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl TaskOwner {
    pub(crate) fn of(p: &Option<Principal>) -> Option<Self> {
        p.as_ref().map(|p| Self {
            subject: p.subject.clone(),
            client_id: p.client_id.clone(),
        })
    }

    /// Whether `caller` may see a task owned by `owner`.
    pub(crate) fn allows(owner: &Option<Self>, caller: &Option<Self>) -> bool {
        owner == caller
    }
}

/// A task as stored: everything any node needs to answer `tasks/get`, and to run the task's next round on
/// the node that runs it. Plain, serializable data; the running handler is never part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    id: String,
    version: u64,
    owner: Option<TaskOwner>,
    /// The fleet node holding the live half (the running handler), when the task was made by an HTTP
    /// endpoint with a bus: another node that finds this node dead fails the task instead of leaving it
    /// `working` until its TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<u64>,
    status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    created_at: SystemTime,
    last_updated_at: SystemTime,
    ttl: Duration,
    poll_interval: Duration,
    /// Questions still open (`input_required`), in the order asked.
    #[serde(default)]
    input_requests: OrderedMap<InputRequest>,
    /// Answers gathered for the next round.
    #[serde(default)]
    responses: JsonObject,
    /// The state the last round saved for the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    round_state: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorObject>,
}

impl TaskRecord {
    /// A new `working` task, version 0.
    pub(crate) fn new(
        id: String,
        owner: Option<TaskOwner>,
        ttl: Duration,
        poll_interval: Duration,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            id,
            version: 0,
            owner,
            node: None,
            status: TaskStatus::Working,
            status_message: None,
            created_at: now,
            last_updated_at: now,
            ttl,
            poll_interval,
            input_requests: OrderedMap::default(),
            responses: JsonObject::new(),
            round_state: None,
            result: None,
            error: None,
        }
    }

    /// The task's id (the store's key).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The version: 0 when created, one more on each update. [`TaskStore::update`] compares it.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// Who created it.
    pub fn owner(&self) -> Option<&TaskOwner> {
        self.owner.as_ref()
    }
    /// The fleet node running it (`Bus::node` of the HTTP endpoint that made it), if
    /// it was made by an endpoint with a bus. Records stored before nodes were recorded read as `None`.
    ///
    /// ```
    /// use mcp_server::tasks::TaskRecord;
    /// let at = serde_json::json!({"secs_since_epoch": 1_780_000_000u64, "nanos_since_epoch": 0});
    /// let mut record = serde_json::json!({
    ///     "id": "t1", "version": 0, "owner": null, "status": "working",
    ///     "createdAt": at, "lastUpdatedAt": at,
    ///     "ttl": {"secs": 60, "nanos": 0}, "pollInterval": {"secs": 1, "nanos": 0},
    /// });
    /// let old: TaskRecord = serde_json::from_value(record.clone()).unwrap();
    /// assert_eq!(old.node(), None);
    /// record["node"] = 7.into();
    /// let made_in_a_fleet: TaskRecord = serde_json::from_value(record).unwrap();
    /// assert_eq!(made_in_a_fleet.node(), Some(7));
    /// ```
    pub fn node(&self) -> Option<u64> {
        self.node
    }
    pub(crate) fn on_node(mut self, node: Option<u64>) -> Self {
        self.node = node;
        self
    }
    /// Where it is.
    pub fn status(&self) -> TaskStatus {
        self.status
    }
    /// When it was created.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }
    /// When it last changed.
    pub fn last_updated_at(&self) -> SystemTime {
        self.last_updated_at
    }
    /// How long it is kept after [`created_at`](Self::created_at), whatever its status.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn owner_opt(&self) -> &Option<TaskOwner> {
        &self.owner
    }
    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll_interval
    }
    pub(crate) fn status_message(&self) -> Option<&String> {
        self.status_message.as_ref()
    }
    pub(crate) fn input_requests(&self) -> &OrderedMap<InputRequest> {
        &self.input_requests
    }
    pub(crate) fn result(&self) -> Option<&Value> {
        self.result.as_ref()
    }
    pub(crate) fn error(&self) -> Option<&ErrorObject> {
        self.error.as_ref()
    }

    /// Start a change: the next version, touched now. The caller passes the version it read to `update`.
    pub(crate) fn touch(&mut self) {
        self.version += 1;
        self.last_updated_at = SystemTime::now();
    }
    pub(crate) fn complete(&mut self, result: Value) {
        self.status = TaskStatus::Completed;
        self.result = Some(result);
        self.clear_round();
    }
    pub(crate) fn fail(&mut self, e: ErrorObject) {
        self.status = TaskStatus::Failed;
        self.status_message = Some(e.message.clone());
        self.error = Some(e);
        self.clear_round();
    }
    pub(crate) fn cancel(&mut self) {
        self.status = TaskStatus::Cancelled;
        self.clear_round();
    }
    fn clear_round(&mut self) {
        self.input_requests.0.clear();
        self.responses.clear();
        self.round_state = None;
    }
    pub(crate) fn ask(
        &mut self,
        asks: Vec<(String, InputRequest)>,
        responses: JsonObject,
        round_state: Option<Value>,
    ) {
        self.status = TaskStatus::InputRequired;
        self.input_requests = OrderedMap(asks);
        self.responses = responses;
        self.round_state = round_state;
    }
    /// Take the answers among `answers` to open questions (the others are ignored); whether any was taken.
    pub(crate) fn answer(&mut self, answers: &JsonObject) -> bool {
        let before = self.input_requests.0.len();
        let responses = &mut self.responses;
        self.input_requests
            .0
            .retain(|(key, _)| match answers.get(key) {
                Some(a) => {
                    responses.insert(key.clone(), a.clone());
                    false
                }
                None => true,
            });
        if self.input_requests.0.is_empty() {
            self.status = TaskStatus::Working;
        }
        before != self.input_requests.0.len()
    }
    /// The answers and round state for the next round, taken out of the record.
    pub(crate) fn take_round(&mut self) -> (JsonObject, Option<Value>) {
        (std::mem::take(&mut self.responses), self.round_state.take())
    }
}

/// Where task records are kept. See the [module docs](self) for the contract and an implementation.
/// Implemented with boxed futures (as the auth module's `TokenVerifier` is), so it is object safe
/// and needs no macro.
///
/// The server calls these from request handlers and from tasks' background work; each call should be quick
/// (one round trip to a backend). The in-memory default is [`InMemoryTaskStore`].
///
/// # Cancel safety
///
/// The server drives every call to completion, except when the request that made it is dropped (its client
/// went away); an implementation must leave the store consistent at any `.await` (a call either happened or
/// did not).
pub trait TaskStore: Send + Sync + 'static {
    /// Store a new record (version 0).
    ///
    /// # Errors
    ///
    /// [`TaskStoreError::Full`] when the store may keep no more tasks, [`TaskStoreError::Conflict`] when the id
    /// is taken, [`TaskStoreError::Backend`].
    fn create(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), TaskStoreError>>;

    /// The record of `id`, or `None` if there is none or it has expired (one returned past its TTL is deleted
    /// by the server).
    ///
    /// # Errors
    ///
    /// [`TaskStoreError::Backend`].
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>>;

    /// Replace the record of `record.id()` only if the stored one has version `expected` (compare-and-set);
    /// `record` carries the next version.
    ///
    /// # Errors
    ///
    /// [`TaskStoreError::Conflict`] when the stored version differs, [`TaskStoreError::NotFound`] when there is
    /// no such record (or it expired), [`TaskStoreError::Backend`].
    fn update(
        &self,
        record: TaskRecord,
        expected: u64,
    ) -> BoxFuture<'_, Result<(), TaskStoreError>>;

    /// Forget `id` (nothing happens if there is no such record).
    ///
    /// # Errors
    ///
    /// [`TaskStoreError::Backend`].
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>>;
}

struct Slot {
    record: TaskRecord,
    expires: Instant,
}

/// The default [`TaskStore`]: records in this process's memory, at most `max_tasks` at once, each forgotten
/// once its TTL has passed (on the tokio clock, so tests can pause it).
///
/// Expired records are dropped when they are looked up and, when the store is full, before a new task is
/// refused; so a full store refuses only while it holds `max_tasks` unexpired tasks.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use mcp_server::tasks::{InMemoryTaskStore, TaskStore};
/// let store = InMemoryTaskStore::new(100);
/// assert!(store.get("nope").await.unwrap().is_none());
/// assert_eq!(store.len(), 0);
/// # });
/// ```
pub struct InMemoryTaskStore {
    max_tasks: usize,
    map: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for InMemoryTaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryTaskStore")
            .field("max_tasks", &self.max_tasks)
            .field("len", &self.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl InMemoryTaskStore {
    /// A store that keeps at most `max_tasks` unexpired tasks.
    pub fn new(max_tasks: usize) -> Self {
        Self {
            max_tasks,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// How many records it holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn create_now(&self, record: TaskRecord) -> Result<(), TaskStoreError> {
        let now = Instant::now();
        let mut map = lock(&self.map);
        if map.len() >= self.max_tasks {
            map.retain(|_, s| s.expires > now);
        }
        if map.len() >= self.max_tasks {
            return Err(TaskStoreError::Full {
                max: self.max_tasks,
            });
        }
        if map.get(&record.id).is_some_and(|s| s.expires > now) {
            return Err(TaskStoreError::Conflict);
        }
        let expires = now + record.ttl;
        map.insert(record.id.clone(), Slot { record, expires });
        Ok(())
    }

    fn get_now(&self, id: &str) -> Option<TaskRecord> {
        let mut map = lock(&self.map);
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.record.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    fn update_now(&self, record: TaskRecord, expected: u64) -> Result<(), TaskStoreError> {
        let mut map = lock(&self.map);
        match map.get_mut(&record.id) {
            Some(s) if s.expires > Instant::now() => {
                if s.record.version != expected {
                    return Err(TaskStoreError::Conflict);
                }
                s.record = record;
                Ok(())
            }
            Some(_) => {
                map.remove(&record.id);
                Err(TaskStoreError::NotFound)
            }
            None => Err(TaskStoreError::NotFound),
        }
    }
}

impl TaskStore for InMemoryTaskStore {
    fn create(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(std::future::ready(self.create_now(record)))
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(std::future::ready(Ok(self.get_now(id))))
    }
    fn update(
        &self,
        record: TaskRecord,
        expected: u64,
    ) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(std::future::ready(self.update_now(record, expected)))
    }
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        lock(&self.map).remove(id);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ttl: Duration) -> TaskRecord {
        TaskRecord::new(id.into(), None, ttl, Duration::from_millis(100))
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_store_refuses_until_a_task_expires() {
        let store = InMemoryTaskStore::new(2);
        store
            .create(record("a", Duration::from_secs(10)))
            .await
            .unwrap();
        store
            .create(record("b", Duration::from_secs(20)))
            .await
            .unwrap();
        let e = store
            .create(record("c", Duration::from_secs(10)))
            .await
            .unwrap_err();
        assert!(matches!(e, TaskStoreError::Full { max: 2 }), "{e:?}");
        // "a" expires at 10 s: its room is taken back for the next task, "b" stays.
        tokio::time::advance(Duration::from_secs(10)).await;
        store
            .create(record("c", Duration::from_secs(10)))
            .await
            .unwrap();
        assert!(store.get("a").await.unwrap().is_none());
        assert!(store.get("b").await.unwrap().is_some());
        assert_eq!(store.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_is_gone_once_its_ttl_has_passed() {
        let store = InMemoryTaskStore::new(10);
        store
            .create(record("a", Duration::from_secs(5)))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(store.get("a").await.unwrap().is_some());
        let r = store.get("a").await.unwrap().unwrap();
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(store.get("a").await.unwrap().is_none());
        // Nor can it be updated back to life.
        let mut next = r.clone();
        next.touch();
        assert!(matches!(
            store.update(next, r.version()).await,
            Err(TaskStoreError::NotFound)
        ));
        assert!(store.is_empty(), "the expired record was dropped");
    }

    #[tokio::test]
    async fn a_stale_version_loses_the_compare_and_set() {
        let store = InMemoryTaskStore::new(10);
        store
            .create(record("t", Duration::from_secs(60)))
            .await
            .unwrap();
        // Two writers read version 0.
        let read = store.get("t").await.unwrap().unwrap();
        let (mut one, mut two) = (read.clone(), read.clone());
        one.touch();
        one.complete(serde_json::json!({"content": []}));
        two.touch();
        two.cancel();
        store.update(one, read.version()).await.unwrap();
        assert!(matches!(
            store.update(two, read.version()).await,
            Err(TaskStoreError::Conflict)
        ));
        let now = store.get("t").await.unwrap().unwrap();
        assert_eq!(now.status(), TaskStatus::Completed);
        assert_eq!(now.version(), 1);
        // A taken id is a conflict too.
        assert!(matches!(
            store.create(record("t", Duration::from_secs(60))).await,
            Err(TaskStoreError::Conflict)
        ));
    }

    #[test]
    fn a_record_survives_serialization() {
        let mut r = TaskRecord::new(
            "x".into(),
            Some(TaskOwner {
                subject: "alice".into(),
                client_id: None,
            }),
            Duration::from_secs(60),
            Duration::from_millis(500),
        );
        r.touch();
        r.fail(ErrorObject::internal("boom"));
        let text = serde_json::to_string(&r).unwrap();
        let back: TaskRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
