//! Interop of the tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) with the `rmcp` crate 3.11.0, at
//! protocol 2026-07-28 (no `initialize`: `server/discover`, then `_meta` on every request), both ways:
//!
//! - rmcp's client (lifecycle `Discover`, declaring the extension) against our server: it gets a task from
//!   `tools/call`, polls `tasks/get` to the result, answers an `input_required` round with `tasks/update`, and
//!   cancels with `tasks/cancel`.
//! - our client (`Client::builder().tasks()`) against an rmcp server whose tools run in rmcp's `TaskManager`:
//!   `call_tool` follows the task (answering its question through our elicitation handler), and
//!   `start_tool_call` hands over a `TaskHandle` whose `get()` and `cancel()` work.
//!
//! The peers talk over an in-memory byte stream (newline-delimited JSON-RPC, which both SDKs speak: our
//! `serve_connection` / `StreamTransport` and rmcp's async read/write transport), with a tap in the middle that
//! records every message, so the tests also pin the wire shapes each side sent. Our client also runs against
//! rmcp's Streamable HTTP server (stateless, with the 2026-07-28 standard headers). rmcp's Streamable HTTP
//! *client* is built on reqwest 0.13, a second HTTP stack this workspace does not carry, so rmcp's client is
//! exercised over the byte stream only.
//!
//! Wire differences between the two SDKs seen here (none breaks interop), asserted below:
//! - Task ids: rmcp's are hyphenated UUIDs (36 characters); ours are 128 random bits in 32 hex digits.
//! - Timestamps: rmcp's are RFC 3339 with nanoseconds and a `+00:00` offset; ours have milliseconds and end in
//!   `Z`. Both are ISO 8601.
//! - Result `_meta`: we put `io.modelcontextprotocol/serverInfo` on every 2026-07-28 result (task results and
//!   the `tasks/update` / `tasks/cancel` acknowledgements too); rmcp only on `server/discover`, so its
//!   acknowledgements are exactly `{"resultType": "complete"}`.
//! - A completed task's inlined `result`: rmcp's always has `isError` (`false` too); ours only when `true`.
//!   Both carry `resultType: "complete"`, which the 2026-07-28 `CallToolResult` requires (ours did not before
//!   this test found it).
//! - rmcp's client puts a `progressToken` in the `_meta` of every request, `tasks/*` included; ours only when
//!   asked to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp::client::transport::StreamTransport;
use mcp::client::{CallOptions, Client, ToolCallStart};
use mcp::protocol::types::{
    CallToolResult, ElicitRequestParams, ElicitResult, TaskStatus, Tool, TASKS_EXTENSION,
};
use mcp::protocol::{ErrorObject, JsonObject};
use mcp::server::{Error, RequestContext, Server, TaskPolicy};
use rmcp::model as rm;
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, RoleServer, RunningService,
};
use rmcp::task_manager::{TaskExit, TaskManager};
use rmcp::{ErrorData as RmcpError, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::Notify;

/// Every message that crossed the tap: `true` for client to server.
#[derive(Clone, Default)]
struct Wire(Arc<Mutex<Vec<(bool, Value)>>>);

impl Wire {
    /// The requests of `method` the client sent, each with the server's response to it.
    fn exchanges(&self, method: &str) -> Vec<(Value, Value)> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(up, m)| *up && m["method"] == method && m.get("id").is_some())
            .map(|(_, req)| {
                let resp = log
                    .iter()
                    .find(|(up, m)| !*up && m.get("method").is_none() && m["id"] == req["id"])
                    .map(|(_, m)| m.clone())
                    .unwrap_or(Value::Null);
                (req.clone(), resp)
            })
            .collect()
    }

    fn first(&self, method: &str) -> (Value, Value) {
        self.exchanges(method)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no {method} crossed the wire"))
    }
}

async fn pump(r: impl AsyncRead + Unpin, mut w: impl AsyncWrite + Unpin, up: bool, wire: Wire) {
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            wire.0.lock().unwrap().push((up, v));
        }
        if w.write_all(line.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// A byte pipe with a recording tap in the middle: (client end, server end, wire log).
fn tapped_pipe() -> (DuplexStream, DuplexStream, Wire) {
    let (client_end, tap_client) = tokio::io::duplex(1 << 20);
    let (tap_server, server_end) = tokio::io::duplex(1 << 20);
    let wire = Wire::default();
    let (cr, cw) = tokio::io::split(tap_client);
    let (sr, sw) = tokio::io::split(tap_server);
    tokio::spawn(pump(cr, sw, true, wire.clone()));
    tokio::spawn(pump(sr, cw, false, wire.clone()));
    (client_end, server_end, wire)
}

/// Signals `notify` when dropped: a task's operation was stopped (or ended).
struct NotifyOnDrop(Arc<Notify>);
impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

async fn notified(n: &Notify, what: &str) {
    tokio::time::timeout(Duration::from_secs(5), n.notified())
        .await
        .unwrap_or_else(|_| panic!("{what}"));
}

// ---------------------------------------------------------------------------------------------------------------
// rmcp's client against our server
// ---------------------------------------------------------------------------------------------------------------

fn our_server(stopped: Arc<Notify>) -> Server {
    let object = || json!({"type": "object"});
    Server::builder("mcp-rs-tasks", "1.0.0")
        .tool(
            Tool::new("build", object()),
            |ctx: RequestContext, args: JsonObject| async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                let target = args.get("target").and_then(Value::as_str).unwrap_or("?");
                Ok::<_, Error>(CallToolResult::text(format!(
                    "built {target} in_task={}",
                    ctx.is_task()
                )))
            },
        )
        .tool_tasks("build", TaskPolicy::optional())
        .tool(
            Tool::new("deploy", object()),
            |ctx: RequestContext, _a: JsonObject| async move {
                let form = ElicitRequestParams::form(
                    "Deploy?",
                    json!({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
                );
                let r = ctx.elicit("confirm", form).await?;
                let ok = r.content.and_then(|c| c.get("ok").cloned()) == Some(json!(true));
                Ok::<_, Error>(CallToolResult::text(format!(
                    "deployed={ok} in_task={}",
                    ctx.is_task()
                )))
            },
        )
        .tool_tasks("deploy", TaskPolicy::required())
        .tool(
            Tool::new("forever", object()),
            move |_c: RequestContext, _a: JsonObject| {
                let guard = NotifyOnDrop(stopped.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, Error>(CallToolResult::text("never"))
                }
            },
        )
        .tool_tasks("forever", TaskPolicy::required())
        .task_options(mcp::server::TaskOptions::default().poll_interval(Duration::from_millis(20)))
        .build()
}

/// rmcp's client, speaking 2026-07-28 (`server/discover`, no `initialize`) and declaring the tasks extension
/// and elicitation, connected to our server through a tap.
async fn rmcp_client_on_our_server(
    stopped: Arc<Notify>,
) -> (RunningService<RoleClient, rm::ClientConfig>, Wire) {
    let (client_end, server_end, wire) = tapped_pipe();
    let (r, w) = tokio::io::split(server_end);
    tokio::spawn(mcp::server::serve_connection(
        our_server(stopped),
        BufReader::new(r),
        w,
        Default::default(),
    ));
    let caps: rm::ClientCapabilities =
        serde_json::from_value(json!({"elicitation": {}, "extensions": {TASKS_EXTENSION: {}}}))
            .unwrap();
    assert!(caps.supports_tasks());
    let client = rm::ClientConfig::new(caps, rm::Implementation::new("rmcp-interop", "1.0.0"))
        .serve_with_lifecycle(
            client_end,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![rm::ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("rmcp's client discovers our server at 2026-07-28");
    (client, wire)
}

fn rmcp_call(name: &str, args: Value) -> rm::CallToolRequestParams {
    let params = rm::CallToolRequestParams::new(name.to_owned());
    match args {
        Value::Object(map) => params.with_arguments(map),
        _ => params,
    }
}

/// Poll `tasks/get` with rmcp's client until `done` holds (at most 5 s).
async fn rmcp_poll_until(
    client: &RunningService<RoleClient, rm::ClientConfig>,
    id: &str,
    done: impl Fn(&rm::DetailedTask) -> bool,
) -> rm::DetailedTask {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got = client
            .peer()
            .get_task(rm::GetTaskParams::new(id.to_owned()))
            .await
            .expect("rmcp parses our tasks/get");
        assert!(got.result_type.is_complete());
        if done(&got.task) {
            return got.task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never got there: {got:?}"
        );
        let pause = got.task.task.poll_interval_ms.unwrap_or(10);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Our `tasks/update` and `tasks/cancel` acknowledgement: an empty complete result, with the `serverInfo` we put
/// in every 2026-07-28 result's `_meta` (rmcp sends that on `server/discover` only; its acknowledgement parser
/// allows `_meta` but no other member, so anything more would break rmcp).
fn assert_our_ack(ack: &Value) {
    let result = ack["result"].as_object().expect("a result");
    assert_eq!(result["resultType"], "complete", "{ack}");
    assert!(
        result.keys().all(|k| k == "resultType" || k == "_meta"),
        "{ack}"
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-rs-tasks"
    );
}

fn rmcp_text(result: rm::JsonObject) -> String {
    let r: rm::CallToolResult = serde_json::from_value(Value::Object(result)).unwrap();
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn rmcp_client_follows_a_task_on_our_server_to_its_result() {
    let (client, wire) = rmcp_client_on_our_server(Arc::new(Notify::new())).await;

    let rm::CallToolResponse::Task(created) = client
        .peer()
        .call_tool_once(rmcp_call("build", json!({"target": "docs"})))
        .await
        .unwrap()
    else {
        panic!("our server answered a task-declaring rmcp client without a task");
    };
    assert!(created.result_type.is_task());
    assert_eq!(created.task.status, rm::TaskStatus::Working);
    assert_eq!(created.task.poll_interval_ms, Some(20));
    assert!(created.task.ttl_ms.is_some_and(|t| t > 0));
    let id = created.task.task_id.clone();
    assert_eq!(id.len(), 32, "our ids are 32 hex digits: {id}");

    let done = rmcp_poll_until(&client, &id, |t| t.status().is_terminal()).await;
    let rm::TaskPayload::Completed { result } = done.payload else {
        panic!("not completed: {done:?}");
    };
    assert_eq!(rmcp_text(result), "built docs in_task=true");

    // What rmcp put on the wire: no initialize, discover first, and self-contained `_meta` on each request.
    assert!(wire.exchanges("initialize").is_empty());
    let (discover, _) = wire.first("server/discover");
    assert_eq!(
        discover["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    let (call, answer) = wire.first("tools/call");
    let meta = &call["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert!(
        meta["io.modelcontextprotocol/clientCapabilities"]["extensions"][TASKS_EXTENSION]
            .is_object(),
        "{call}"
    );
    // A task result is the task's fields flattened beside `resultType`, never a nested `task`.
    assert_eq!(answer["result"]["resultType"], "task", "{answer}");
    assert_eq!(answer["result"]["taskId"], id.as_str());
    assert!(answer["result"].get("task").is_none(), "{answer}");
    let (_, last) = wire.exchanges("tasks/get").pop().unwrap();
    assert_eq!(
        last["result"]["result"]["resultType"], "complete",
        "the inlined result is a 2026-07-28 CallToolResult: {last}"
    );
    assert!(meta.get("progressToken").is_some(), "{call}");
    let (get, _) = wire.first("tasks/get");
    assert_eq!(get["params"]["taskId"], id.as_str());
    assert!(
        get["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["extensions"]
            [TASKS_EXTENSION]
            .is_object(),
        "{get}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_answers_our_tasks_question_with_tasks_update() {
    let (client, wire) = rmcp_client_on_our_server(Arc::new(Notify::new())).await;
    let rm::CallToolResponse::Task(created) = client
        .peer()
        .call_tool_once(rmcp_call("deploy", json!({})))
        .await
        .unwrap()
    else {
        panic!("a task-required tool answered without a task");
    };
    let id = created.task.task_id.clone();

    let asking = rmcp_poll_until(&client, &id, |t| {
        t.status() == rm::TaskStatus::InputRequired
    })
    .await;
    let rm::TaskPayload::InputRequired { input_requests } = asking.payload else {
        unreachable!()
    };
    assert_eq!(
        input_requests.keys().collect::<Vec<_>>(),
        ["confirm"],
        "{input_requests:?}"
    );
    let rm::InputRequest::Elicitation(question) = &input_requests["confirm"] else {
        panic!("rmcp did not read our question as an elicitation: {input_requests:?}");
    };
    let rm::ElicitRequestParams::FormElicitationParams { message, .. } = &question.params else {
        panic!("not a form: {question:?}");
    };
    assert_eq!(message, "Deploy?");

    let mut responses = rm::InputResponses::new();
    responses.insert(
        "confirm".into(),
        json!({"action": "accept", "content": {"ok": true}}),
    );
    client
        .peer()
        .update_task(rm::UpdateTaskParams::new(id.clone(), responses))
        .await
        .expect("rmcp accepts our tasks/update acknowledgement");

    let done = rmcp_poll_until(&client, &id, |t| t.status().is_terminal()).await;
    let rm::TaskPayload::Completed { result } = done.payload else {
        panic!("not completed: {done:?}");
    };
    assert_eq!(rmcp_text(result), "deployed=true in_task=true");

    let (update, ack) = wire.first("tasks/update");
    assert_eq!(
        update["params"]["inputResponses"]["confirm"]["action"],
        "accept"
    );
    assert_our_ack(&ack);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_cancels_our_task() {
    let stopped = Arc::new(Notify::new());
    let (client, wire) = rmcp_client_on_our_server(stopped.clone()).await;
    let rm::CallToolResponse::Task(created) = client
        .peer()
        .call_tool_once(rmcp_call("forever", json!({})))
        .await
        .unwrap()
    else {
        panic!("a task-required tool answered without a task");
    };
    let id = created.task.task_id.clone();
    let working = rmcp_poll_until(&client, &id, |_| true).await;
    assert_eq!(working.status(), rm::TaskStatus::Working);

    client
        .peer()
        .cancel_task(rm::CancelTaskParams::new(id.clone()))
        .await
        .expect("rmcp accepts our tasks/cancel acknowledgement");
    let done = rmcp_poll_until(&client, &id, |t| t.status().is_terminal()).await;
    assert_eq!(done.status(), rm::TaskStatus::Cancelled);
    notified(&stopped, "our server kept running the cancelled task").await;

    let (_, ack) = wire.first("tasks/cancel");
    assert_our_ack(&ack);
    // An unknown task is invalid params for both SDKs.
    let e = client
        .peer()
        .get_task(rm::GetTaskParams::new("no-such-task".to_owned()))
        .await
        .unwrap_err();
    let rmcp::ServiceError::McpError(e) = e else {
        panic!("{e:?}");
    };
    assert_eq!(e.code, rm::ErrorCode::INVALID_PARAMS);
    client.cancel().await.unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// our client against an rmcp server (rmcp's TaskManager)
// ---------------------------------------------------------------------------------------------------------------

/// An rmcp server whose tools run as tasks in rmcp's `TaskManager` for clients that declare the extension.
#[derive(Clone)]
struct RmcpTaskServer {
    tasks: TaskManager,
    stopped: Arc<Notify>,
}

fn elicitation(message: &str) -> rm::InputRequest {
    serde_json::from_value(json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
        }
    }))
    .unwrap()
}

impl ServerHandler for RmcpTaskServer {
    async fn call_tool(
        &self,
        request: rm::CallToolRequestParams,
        context: rmcp::service::RequestContext<RoleServer>,
    ) -> Result<rm::CallToolResponse, RmcpError> {
        let with_tasks = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        if !with_tasks {
            return Err(RmcpError::invalid_params(
                "this test server only runs tools as tasks",
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let options = rmcp::task_manager::TaskOptions::new().with_poll_interval_ms(15);
        let task = match request.name.as_ref() {
            "sum" => {
                let a = args.get("a").and_then(Value::as_i64).unwrap_or(0);
                let b = args.get("b").and_then(Value::as_i64).unwrap_or(0);
                self.tasks.spawn(options, move |_ctx| {
                    Box::pin(async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(rm::CallToolResult::success(vec![rm::ContentBlock::text(
                            (a + b).to_string(),
                        )]))
                    })
                })
            }
            "confirm" => self.tasks.spawn(options, |ctx| {
                Box::pin(async move {
                    let answer = ctx
                        .request_input("confirm", elicitation("Proceed?"))
                        .await?;
                    Ok(rm::CallToolResult::success(vec![rm::ContentBlock::text(
                        format!(
                            "confirmed action={} ok={}",
                            answer["action"].as_str().unwrap_or("?"),
                            answer["content"]["ok"]
                        ),
                    )]))
                })
            }),
            "forever" => {
                let guard = NotifyOnDrop(self.stopped.clone());
                self.tasks.spawn(options, move |ctx| {
                    Box::pin(async move {
                        let _guard = guard;
                        tokio::select! {
                            _ = ctx.cancelled() => Err(TaskExit::Cancelled),
                            _ = tokio::time::sleep(Duration::from_secs(3600)) => {
                                Ok(rm::CallToolResult::success(vec![rm::ContentBlock::text("never")]))
                            }
                        }
                    })
                })
            }
            other => return Err(RmcpError::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(rm::CallToolResponse::Task(rm::CreateTaskResult::new(task)))
    }

    async fn get_task(
        &self,
        request: rm::GetTaskParams,
        _context: rmcp::service::RequestContext<RoleServer>,
    ) -> Result<rm::GetTaskResult, RmcpError> {
        Ok(rm::GetTaskResult::new(
            self.tasks.get_task(&request.task_id)?,
        ))
    }

    async fn update_task(
        &self,
        request: rm::UpdateTaskParams,
        _context: rmcp::service::RequestContext<RoleServer>,
    ) -> Result<(), RmcpError> {
        self.tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: rm::CancelTaskParams,
        _context: rmcp::service::RequestContext<RoleServer>,
    ) -> Result<(), RmcpError> {
        self.tasks.cancel_task(&request.task_id)
    }

    fn get_info(&self) -> rm::ServerConfig {
        rm::ServerConfig::new(
            serde_json::from_value(json!({"tools": {}, "extensions": {TASKS_EXTENSION: {}}}))
                .unwrap(),
        )
    }
}

/// Our client, declaring the tasks extension and answering elicitations with `{ok: true}`, connected to the
/// rmcp task server through a tap.
async fn our_client_on_rmcp_server(stopped: Arc<Notify>) -> (Client, Wire) {
    let (client_end, server_end, wire) = tapped_pipe();
    let server = RmcpTaskServer {
        tasks: TaskManager::new(),
        stopped,
    };
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_end).await {
            let _ = running.waiting().await;
        }
    });
    let client = Client::builder()
        .tasks()
        .elicitation_handler(|_p: ElicitRequestParams| async move {
            let mut content = JsonObject::new();
            content.insert("ok".into(), Value::Bool(true));
            Ok::<_, ErrorObject>(ElicitResult::accept(content))
        })
        .connect(StreamTransport::from_duplex(client_end))
        .await
        .expect("our client reaches the rmcp server");
    assert_eq!(client.protocol_version().as_str(), "2026-07-28");
    (client, wire)
}

#[tokio::test]
async fn our_call_tool_follows_an_rmcp_task_to_its_result() {
    let (client, wire) = our_client_on_rmcp_server(Arc::new(Notify::new())).await;
    let r = client
        .call_tool("sum", json!({"a": 40, "b": 2}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "42");

    // It really was a task: rmcp answered the call with one, and we polled it.
    let (call, answer) = wire.first("tools/call");
    assert!(
        call["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["extensions"]
            [TASKS_EXTENSION]
            .is_object(),
        "{call}"
    );
    assert_eq!(answer["result"]["resultType"], "task", "{answer}");
    let id = answer["result"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "rmcp's ids are hyphenated UUIDs: {id}");
    assert!(
        answer["result"]["createdAt"]
            .as_str()
            .unwrap()
            .ends_with("+00:00"),
        "{answer}"
    );
    let gets = wire.exchanges("tasks/get");
    assert!(!gets.is_empty());
    assert!(gets
        .iter()
        .all(|(q, _)| q["params"]["taskId"] == id.as_str()));
    let (_, last) = gets.last().unwrap();
    assert_eq!(last["result"]["status"], "completed", "{last}");
    assert_eq!(last["result"]["resultType"], "complete", "{last}");
    assert_eq!(last["result"]["result"]["resultType"], "complete", "{last}");
    assert_eq!(last["result"]["result"]["isError"], false, "{last}");
}

#[tokio::test]
async fn our_call_tool_answers_an_rmcp_tasks_question() {
    let (client, wire) = our_client_on_rmcp_server(Arc::new(Notify::new())).await;
    let r = client.call_tool("confirm", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "confirmed action=accept ok=true");

    let asked = wire
        .exchanges("tasks/get")
        .into_iter()
        .find(|(_, a)| a["result"]["status"] == "input_required")
        .expect("the task asked its question through tasks/get");
    assert_eq!(
        asked.1["result"]["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    let (update, ack) = wire.first("tasks/update");
    assert_eq!(
        update["params"]["inputResponses"]["confirm"],
        json!({"action": "accept", "content": {"ok": true}})
    );
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
}

#[tokio::test]
async fn our_task_handle_gets_and_cancels_an_rmcp_task() {
    let stopped = Arc::new(Notify::new());
    let (client, wire) = our_client_on_rmcp_server(stopped.clone()).await;
    let ToolCallStart::Task(task) = client
        .start_tool_call("forever", json!({}), CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("the rmcp server answered without a task");
    };
    let got = task.get().await.unwrap();
    assert_eq!(got.task.task_id, task.id());
    assert_eq!(got.task.status, TaskStatus::Working);
    assert_eq!(got.task.poll_interval_ms, Some(15));

    task.cancel().await.unwrap();
    // rmcp's cancellation is cooperative: the operation sees the signal and settles as cancelled.
    notified(&stopped, "the rmcp task never saw the cancellation").await;
    let e = task.wait().await.unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    assert_eq!(task.get().await.unwrap().task.status, TaskStatus::Cancelled);

    let (_, ack) = wire.first("tasks/cancel");
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
    let e = client.task("no-such-task").get().await.unwrap_err();
    assert_eq!(e.code(), Some(-32602), "{e}");
}

/// rmcp's Streamable HTTP server (its default config: stateless at 2026-07-28) for `server`, on a loopback port.
/// The tasks live in the one `TaskManager` every per-request handler clone shares.
async fn rmcp_http_url(server: RmcpTaskServer) -> String {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_sse_keep_alive(None),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let service = service.clone();
                    async move { Ok::<_, std::convert::Infallible>(service.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
            });
        }
    });
    format!("http://{addr}/mcp")
}

/// Over HTTP, rmcp's server also checks the SEP-2243 headers: `Mcp-Method`, and on `tasks/get|update|cancel` an
/// `Mcp-Name` equal to the body's `taskId`; a request of ours without them would be refused with 400.
#[tokio::test]
async fn over_http_our_client_follows_answers_and_cancels_rmcp_tasks() {
    let stopped = Arc::new(Notify::new());
    let url = rmcp_http_url(RmcpTaskServer {
        tasks: TaskManager::new(),
        stopped: stopped.clone(),
    })
    .await;
    let client = Client::builder()
        .tasks()
        .elicitation_handler(|_p: ElicitRequestParams| async move {
            let mut content = JsonObject::new();
            content.insert("ok".into(), Value::Bool(true));
            Ok::<_, ErrorObject>(ElicitResult::accept(content))
        })
        .connect(mcp::client::transport::HttpTransport::new(&url).unwrap())
        .await
        .expect("our client reaches rmcp's HTTP server");
    assert_eq!(client.protocol_version().as_str(), "2026-07-28");

    let r = client
        .call_tool("sum", json!({"a": 40, "b": 2}))
        .await
        .unwrap();
    assert_eq!(r.text_content(), "42");
    let r = client.call_tool("confirm", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "confirmed action=accept ok=true");

    let ToolCallStart::Task(task) = client
        .start_tool_call("forever", json!({}), CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("the rmcp server answered without a task");
    };
    assert_eq!(task.get().await.unwrap().task.status, TaskStatus::Working);
    task.cancel().await.unwrap();
    notified(&stopped, "the rmcp task never saw the cancellation").await;
    let e = task.wait().await.unwrap_err();
    assert!(e.is_cancelled(), "{e}");
}
