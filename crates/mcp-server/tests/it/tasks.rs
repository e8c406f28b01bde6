//! The tasks extension (SEP-2663) on a real connection: one handler serves clients with and without tasks;
//! questions inside a task become its `input_required` and `tasks/update` resumes it; answers may come in
//! parts; cancellation stops the handler; tasks are gated on the capability, bound to their creator, capped,
//! and kept in the store the builder was given.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_protocol::types::{CallToolResult, ElicitRequestParams, TaskStatus, Tool, TASKS_EXTENSION};
use mcp_protocol::JsonObject;
use mcp_server::tasks::{TaskRecord, TaskStore, TaskStoreError};
use mcp_server::{Error, RequestContext, Server, TaskOptions, TaskPolicy};
use serde_json::{json, Value};
use support::{connect, modern_request, Pipe};

fn tool(name: &str) -> Tool {
    Tool::new(name, json!({"type": "object"}))
}

fn form(message: &str, field: &str) -> ElicitRequestParams {
    ElicitRequestParams::form(
        message,
        json!({"type": "object", "properties": {field: {"type": "string"}}}),
    )
}

fn answer(r: &mcp_protocol::types::ElicitResult, field: &str) -> String {
    r.content
        .as_ref()
        .and_then(|c| c.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

struct Fixture {
    server: Server,
    /// Set when the `forever` handler is dropped (cancelled).
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn fixture(options: TaskOptions) -> Fixture {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let server = Server::builder("tasks-test", "1.0.0")
        .tool(
            tool("quick"),
            |ctx: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text(format!("task={}", ctx.is_task())))
            },
        )
        .tool_tasks("quick", TaskPolicy::optional())
        .tool(
            tool("two_questions"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let first = ctx.elicit("first", form("First name?", "name")).await?;
                // Round state survives between the task's rounds, like requestState between MRTR rounds.
                ctx.set_round_state(&"after-first");
                let last = ctx.elicit("last", form("Last name?", "name")).await?;
                let carried: Option<String> = ctx.round_state();
                Ok::<_, Error>(CallToolResult::text(format!(
                    "{} {} ({})",
                    answer(&first, "name"),
                    answer(&last, "name"),
                    carried.unwrap_or_default()
                )))
            },
        )
        .tool_tasks("two_questions", TaskPolicy::required())
        .tool(
            tool("forever"),
            move |_ctx: RequestContext, _a: JsonObject| {
                let guard = SetOnDrop(flag.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, Error>(CallToolResult::text("never"))
                }
            },
        )
        .tool_tasks("forever", TaskPolicy::required())
        .tool(
            tool("ask_then_task"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let who = ctx.elicit("who", form("Who?", "name")).await?;
                let became = ctx.become_task();
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, Error>(CallToolResult::text(format!(
                    "{} became_task={became} is_task={}",
                    answer(&who, "name"),
                    ctx.is_task()
                )))
            },
        )
        .tool_tasks("ask_then_task", TaskPolicy::required().start_on_request())
        .tool(
            tool("plain"),
            |_c: RequestContext, _a: JsonObject| async move {
                Ok::<_, Error>(CallToolResult::text("plain"))
            },
        )
        .task_options(options)
        .build();
    Fixture { server, dropped }
}

fn with_tasks() -> Value {
    json!({"elicitation": {}, "extensions": {TASKS_EXTENSION: {}}})
}

async fn call(p: &mut Pipe, id: i64, method: &str, params: Value, caps: Value) -> Value {
    p.call(modern_request(id, method, params, caps)).await
}

/// Poll `tasks/get` until `done` holds (at most 5 s).
async fn wait_for(p: &mut Pipe, id: &mut i64, task: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        *id += 1;
        let r = call(p, *id, "tasks/get", json!({"taskId": task}), with_tasks()).await;
        let result = r["result"].clone();
        if done(&result) {
            return result;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never got there: {r}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn one_handler_answers_plainly_without_tasks_and_as_a_task_with_them() {
    let f = fixture(TaskOptions::default());
    let mut p = connect(f.server.clone());
    let r = call(&mut p, 1, "server/discover", json!({}), json!({})).await;
    assert!(
        r["result"]["capabilities"]["extensions"][TASKS_EXTENSION].is_object(),
        "{r}"
    );

    let r = call(&mut p, 2, "tools/call", json!({"name": "quick"}), json!({})).await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "task=false", "{r}");

    let r = call(
        &mut p,
        3,
        "tools/call",
        json!({"name": "quick"}),
        with_tasks(),
    )
    .await;
    let created = &r["result"];
    assert_eq!(created["resultType"], "task", "{r}");
    assert_eq!(created["taskId"].as_str().unwrap().len(), 32, "{r}");
    assert!(
        created.get("content").is_none() && created.get("task").is_none(),
        "{r}"
    );
    assert!(created["ttlMs"].as_u64().unwrap() > 0, "{r}");
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'), "{r}");
    let task = created["taskId"].as_str().unwrap().to_owned();
    let mut id = 10;
    let done = wait_for(&mut p, &mut id, &task, |t| t["status"] == "completed").await;
    assert_eq!(done["resultType"], "complete");
    assert_eq!(done["result"]["content"][0]["text"], "task=true", "{done}");

    // A tool without a task policy never becomes a task.
    let r = call(
        &mut p,
        100,
        "tools/call",
        json!({"name": "plain"}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
}

#[tokio::test]
async fn questions_inside_a_task_are_answered_with_tasks_update_in_parts() {
    let f = fixture(TaskOptions::default());
    let mut p = connect(f.server.clone());
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "two_questions"}),
        with_tasks(),
    )
    .await;
    let task = r["result"]["taskId"].as_str().expect("a task").to_owned();
    let mut id = 10;
    let t = wait_for(&mut p, &mut id, &task, |t| t["status"] == "input_required").await;
    assert_eq!(
        t["inputRequests"]["first"]["method"], "elicitation/create",
        "{t}"
    );
    assert!(t.get("requestState").is_none(), "{t}");

    // An answer to a question nobody asked is acknowledged and ignored.
    let r = call(
        &mut p,
        20,
        "tasks/update",
        json!({"taskId": task, "inputResponses": {"bogus": {"action": "accept"}}}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    let t = call(
        &mut p,
        21,
        "tasks/get",
        json!({"taskId": task}),
        with_tasks(),
    )
    .await;
    assert_eq!(t["result"]["status"], "input_required", "{t}");

    let first = json!({"first": {"action": "accept", "content": {"name": "Ada"}}});
    call(
        &mut p,
        22,
        "tasks/update",
        json!({"taskId": task, "inputResponses": first}),
        with_tasks(),
    )
    .await;
    let t = wait_for(&mut p, &mut id, &task, |t| {
        t["status"] == "input_required" && t["inputRequests"].get("last").is_some()
    })
    .await;
    assert!(
        t["inputRequests"].get("first").is_none(),
        "answered questions leave: {t}"
    );

    let last = json!({"last": {"action": "accept", "content": {"name": "Lovelace"}}});
    call(
        &mut p,
        30,
        "tasks/update",
        json!({"taskId": task, "inputResponses": last}),
        with_tasks(),
    )
    .await;
    let done = wait_for(&mut p, &mut id, &task, |t| t["status"] == "completed").await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Ada Lovelace (after-first)",
        "the second round kept the first answer and the round state: {done}"
    );
}

#[tokio::test]
async fn a_cancelled_task_stops_its_handler_and_acks_every_cancel() {
    let f = fixture(TaskOptions::default());
    let mut p = connect(f.server.clone());
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "forever"}),
        with_tasks(),
    )
    .await;
    let task = r["result"]["taskId"].as_str().unwrap().to_owned();
    for n in 0..2 {
        let r = call(
            &mut p,
            2 + n,
            "tasks/cancel",
            json!({"taskId": task}),
            with_tasks(),
        )
        .await;
        assert_eq!(r["result"]["resultType"], "complete", "{r}");
        assert!(r["result"].get("status").is_none(), "{r}");
    }
    let t = call(
        &mut p,
        5,
        "tasks/get",
        json!({"taskId": task}),
        with_tasks(),
    )
    .await;
    assert_eq!(t["result"]["status"], "cancelled", "{t}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !f.dropped.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handler kept running"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_capability_gates_tasks_before_anything_else() {
    let f = fixture(TaskOptions::default());
    let mut p = connect(f.server.clone());
    // A task-required tool for a client without tasks: -32021 naming what to declare.
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "forever"}),
        json!({}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32021, "{r}");
    assert!(
        r["error"]["data"]["requiredCapabilities"]["extensions"][TASKS_EXTENSION].is_object(),
        "{r}"
    );
    assert!(!f.dropped.load(Ordering::SeqCst), "the handler never ran");
    for (n, method) in ["tasks/get", "tasks/update", "tasks/cancel"]
        .into_iter()
        .enumerate()
    {
        let r = call(
            &mut p,
            10 + n as i64,
            method,
            json!({"taskId": "whatever"}),
            json!({}),
        )
        .await;
        assert_eq!(r["error"]["code"], -32021, "{method}: {r}");
    }
    let r = call(
        &mut p,
        20,
        "tasks/get",
        json!({"taskId": "nope"}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    for (n, removed) in ["tasks/list", "tasks/result"].into_iter().enumerate() {
        let r = call(
            &mut p,
            30 + n as i64,
            removed,
            json!({"taskId": "x"}),
            with_tasks(),
        )
        .await;
        assert_eq!(r["error"]["code"], -32601, "{removed}: {r}");
    }
}

#[tokio::test]
async fn questions_before_become_task_go_through_the_call_itself() {
    let f = fixture(TaskOptions::default());
    let mut p = connect(f.server.clone());
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "ask_then_task"}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    assert!(r["result"].get("taskId").is_none(), "{r}");
    let state = r["result"]["requestState"].clone();
    let retry = json!({"name": "ask_then_task", "requestState": state,
        "inputResponses": {"who": {"action": "accept", "content": {"name": "Grace"}}}});
    let r = call(&mut p, 2, "tools/call", retry, with_tasks()).await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    assert!(r["result"].get("requestState").is_none(), "{r}");
    let task = r["result"]["taskId"].as_str().unwrap().to_owned();
    let mut id = 10;
    let done = wait_for(&mut p, &mut id, &task, |t| t["status"] == "completed").await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Grace became_task=true is_task=true",
        "{done}"
    );
}

#[tokio::test]
async fn the_store_is_capped_and_names_its_setting() {
    let f = fixture(TaskOptions::default().max_tasks(1));
    let mut p = connect(f.server.clone());
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "forever"}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    let r = call(
        &mut p,
        2,
        "tools/call",
        json!({"name": "forever"}),
        with_tasks(),
    )
    .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tasks"),
        "{r}"
    );
    // Nothing else is harmed: plain calls still run.
    let r = call(
        &mut p,
        3,
        "tools/call",
        json!({"name": "plain"}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["result"]["content"][0]["text"], "plain", "{r}");
}

#[tokio::test]
async fn an_expired_task_is_gone() {
    let f = fixture(TaskOptions::default().ttl(Duration::from_millis(50)));
    let mut p = connect(f.server.clone());
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "quick"}),
        with_tasks(),
    )
    .await;
    let task = r["result"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(r["result"]["ttlMs"], 50, "{r}");
    tokio::time::sleep(Duration::from_millis(80)).await;
    let r = call(
        &mut p,
        2,
        "tasks/get",
        json!({"taskId": task}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

/// A store as a remote one would be: records kept as JSON text, every call counted, and the first
/// compare-and-set of every change made to lose once, as if another node had written first.
#[derive(Default)]
struct RemoteLike {
    records: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// (task, expected version) pairs already refused once.
    refused: std::sync::Mutex<std::collections::HashSet<(String, u64)>>,
    creates: std::sync::atomic::AtomicUsize,
    conflicts: std::sync::atomic::AtomicUsize,
}

struct Shared(Arc<RemoteLike>);

impl TaskStore for Shared {
    fn create(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(async move {
            self.0.creates.fetch_add(1, Ordering::SeqCst);
            let text = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
            let mut map = self.0.records.lock().unwrap();
            if map.contains_key(record.id()) {
                return Err(TaskStoreError::Conflict);
            }
            map.insert(record.id().to_owned(), text);
            Ok(())
        })
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<TaskRecord>, TaskStoreError>> {
        Box::pin(async move {
            let map = self.0.records.lock().unwrap();
            map.get(id)
                .map(|t| serde_json::from_str(t).map_err(TaskStoreError::backend))
                .transpose()
        })
    }
    fn update(
        &self,
        record: TaskRecord,
        expected: u64,
    ) -> BoxFuture<'_, Result<(), TaskStoreError>> {
        Box::pin(async move {
            if self
                .0
                .refused
                .lock()
                .unwrap()
                .insert((record.id().to_owned(), expected))
            {
                self.0.conflicts.fetch_add(1, Ordering::SeqCst);
                return Err(TaskStoreError::Conflict);
            }
            let mut map = self.0.records.lock().unwrap();
            let stored: TaskRecord = map
                .get(record.id())
                .map(|t| serde_json::from_str(t).unwrap())
                .ok_or(TaskStoreError::NotFound)?;
            if stored.version() != expected {
                return Err(TaskStoreError::Conflict);
            }
            let text = serde_json::to_string(&record).map_err(TaskStoreError::backend)?;
            map.insert(record.id().to_owned(), text);
            Ok(())
        })
    }
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), TaskStoreError>> {
        Box::pin(async move {
            self.0.records.lock().unwrap().remove(id);
            Ok(())
        })
    }
}

impl RemoteLike {
    fn record(&self, id: &str) -> Option<TaskRecord> {
        let map = self.records.lock().unwrap();
        map.get(id).map(|t| serde_json::from_str(t).unwrap())
    }
}

#[tokio::test]
async fn a_store_plugged_in_through_the_builder_holds_every_task_and_survives_lost_races() {
    let store = Arc::new(RemoteLike::default());
    let server = Server::builder("tasks-store", "1.0.0")
        .tool(
            tool("two_questions"),
            |ctx: RequestContext, _a: JsonObject| async move {
                let first = ctx.elicit("first", form("First name?", "name")).await?;
                let last = ctx.elicit("last", form("Last name?", "name")).await?;
                Ok::<_, Error>(CallToolResult::text(format!(
                    "{} {}",
                    answer(&first, "name"),
                    answer(&last, "name")
                )))
            },
        )
        .tool_tasks("two_questions", TaskPolicy::required())
        .task_store(Shared(store.clone()))
        .build();
    let mut p = connect(server);
    let r = call(
        &mut p,
        1,
        "tools/call",
        json!({"name": "two_questions"}),
        with_tasks(),
    )
    .await;
    let task = r["result"]["taskId"].as_str().expect("a task").to_owned();
    assert_eq!(store.creates.load(Ordering::SeqCst), 1);
    assert!(
        store.record(&task).is_some(),
        "the task is in the plugged store"
    );

    let mut id = 10;
    wait_for(&mut p, &mut id, &task, |t| t["status"] == "input_required").await;
    assert_eq!(
        store.record(&task).unwrap().status(),
        TaskStatus::InputRequired
    );
    for (n, (key, name)) in [("first", "Ada"), ("last", "Lovelace")]
        .into_iter()
        .enumerate()
    {
        wait_for(&mut p, &mut id, &task, |t| {
            t["inputRequests"].get(key).is_some()
        })
        .await;
        let answers = json!({key: {"action": "accept", "content": {"name": name}}});
        let r = call(
            &mut p,
            50 + n as i64,
            "tasks/update",
            json!({"taskId": task, "inputResponses": answers}),
            with_tasks(),
        )
        .await;
        assert_eq!(r["result"]["resultType"], "complete", "{r}");
    }
    let done = wait_for(&mut p, &mut id, &task, |t| t["status"] == "completed").await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Ada Lovelace",
        "{done}"
    );
    let record = store.record(&task).unwrap();
    assert_eq!(record.status(), TaskStatus::Completed);
    // Every change lost its first compare-and-set and was applied on the retry, once.
    let conflicts = store.conflicts.load(Ordering::SeqCst);
    assert_eq!(
        conflicts as u64,
        record.version(),
        "one lost race per change"
    );
    assert!(
        conflicts >= 5,
        "asked, answered, asked, answered, completed: {conflicts}"
    );

    // The store is the only copy: a record it dropped is an unknown task.
    Shared(store.clone()).delete(&task).await.unwrap();
    let r = call(
        &mut p,
        99,
        "tasks/get",
        json!({"taskId": task}),
        with_tasks(),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}
