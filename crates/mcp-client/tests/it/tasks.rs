//! The tasks extension end to end: our client against our server, over a byte stream and over Streamable
//! HTTP. A call that becomes a task is followed to its end, its questions answered through the client's
//! elicitation handler; a task can be handed over, resumed by id from another client, and cancelled; its
//! changes reach a listen stream as `notifications/tasks`, which `wait_notified` follows instead of polling.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_client::transport::{HttpTransport, Transport};
use mcp_client::{CallOptions, Client, ToolCallStart};
use mcp_protocol::types::{
    CallToolResult, ElicitRequestParams, ElicitResult, SubscriptionFilter, TaskStatus, Tool,
};
use mcp_protocol::{ErrorObject, JsonObject};
use mcp_server::{Error, RequestContext, Server, TaskPolicy};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

struct Fixture {
    server: Server,
    stopped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn fixture() -> Fixture {
    fixture_polling_every(Duration::from_millis(20))
}

fn fixture_polling_every(poll: Duration) -> Fixture {
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let object = || json!({"type": "object"});
    let server = Server::builder("tasks-e2e", "1.0.0")
        .tool(
            Tool::new("deploy", object()),
            |ctx: RequestContext, _a: JsonObject| async move {
                let form = ElicitRequestParams::form(
                    "Deploy?",
                    json!({"type": "object", "properties": {"ok": {"type": "boolean"}}}),
                );
                let r = ctx.elicit("confirm", form).await?;
                tokio::time::sleep(Duration::from_millis(30)).await;
                let ok = r.content.and_then(|c| c.get("ok").cloned()) == Some(json!(true));
                Ok::<_, Error>(CallToolResult::text(format!(
                    "deployed={ok} in_task={}",
                    ctx.is_task()
                )))
            },
        )
        .tool_tasks("deploy", TaskPolicy::optional())
        .tool(
            Tool::new("broken", object()),
            |_c: RequestContext, _a: JsonObject| async move {
                Err::<CallToolResult, _>(Error::internal("disk full"))
            },
        )
        .tool_tasks("broken", TaskPolicy::required())
        .tool(
            Tool::new("forever", object()),
            move |_c: RequestContext, _a: JsonObject| {
                let guard = SetOnDrop(flag.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, Error>(CallToolResult::text("never"))
                }
            },
        )
        .tool_tasks("forever", TaskPolicy::required())
        .task_options(mcp_server::TaskOptions::default().poll_interval(poll))
        .build();
    Fixture { server, stopped }
}

async fn client(transport: impl Transport, tasks: bool) -> Client {
    let mut b = Client::builder().elicitation_handler(|_p: ElicitRequestParams| async move {
        let mut content = JsonObject::new();
        content.insert("ok".into(), Value::Bool(true));
        Ok::<_, ErrorObject>(ElicitResult::accept(content))
    });
    if tasks {
        b = b.tasks();
    }
    b.connect(transport).await.unwrap()
}

/// Every test body, over both transports.
async fn both(
    test: impl Fn(Client, Fixture, Option<String>) -> futures::future::BoxFuture<'static, ()>,
) {
    let f = fixture();
    let c = client(common::duplex_server(f.server.clone()), true).await;
    test(c, f, None).await;
    let f = fixture();
    let url = common::http_server(f.server.clone()).await;
    let c = client(HttpTransport::new(&url).unwrap(), true).await;
    test(c, f, Some(url)).await;
}

#[tokio::test]
async fn call_tool_follows_a_task_and_answers_its_questions() {
    both(|c, _f, _| {
        Box::pin(async move {
            let r = c.call_tool("deploy", json!({})).await.unwrap();
            assert_eq!(r.text_content(), "deployed=true in_task=true");
        })
    })
    .await;
}

#[tokio::test]
async fn a_client_without_tasks_gets_the_plain_answer_from_the_same_handler() {
    let f = fixture();
    let c = client(common::duplex_server(f.server.clone()), false).await;
    let r = c.call_tool("deploy", json!({})).await.unwrap();
    assert_eq!(r.text_content(), "deployed=true in_task=false");
    let e = c.call_tool("broken", json!({})).await.unwrap_err();
    assert_eq!(e.code(), Some(-32021), "{e}");
}

#[tokio::test]
async fn a_failed_task_is_its_error() {
    both(|c, _f, _| {
        Box::pin(async move {
            let e = c.call_tool("broken", json!({})).await.unwrap_err();
            assert_eq!(e.code(), Some(-32603), "{e}");
            assert!(e.to_string().contains("disk full"), "{e}");
        })
    })
    .await;
}

#[tokio::test]
async fn cancelling_the_call_cancels_the_task_on_the_server() {
    both(|c, f, _| {
        Box::pin(async move {
            let cancel = CancellationToken::new();
            let call = {
                let c = c.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    c.call_tool_with("forever", json!({}), CallOptions::default().cancel(cancel))
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
            let e = call.await.unwrap().unwrap_err();
            assert!(e.is_cancelled(), "{e}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while !f.stopped.load(Ordering::SeqCst) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the server kept running it"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    })
    .await;
}

#[tokio::test]
async fn a_task_handed_over_is_resumed_by_id_from_another_client() {
    let f = fixture();
    let url = common::http_server(f.server.clone()).await;
    let first = client(HttpTransport::new(&url).unwrap(), true).await;
    let ToolCallStart::Task(task) = first
        .start_tool_call("forever", json!({}), CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("a task-required tool answered plainly");
    };
    let id = task.id().to_owned();
    assert_eq!(id.len(), 32);
    first.close().await;

    // A new process: only the id survives.
    let second = client(HttpTransport::new(&url).unwrap(), true).await;
    let resumed = second.task(id.clone());
    assert_eq!(
        resumed.get().await.unwrap().task.status,
        TaskStatus::Working
    );
    resumed.cancel().await.unwrap();
    assert_eq!(
        resumed.get().await.unwrap().task.status,
        TaskStatus::Cancelled
    );
    let e = resumed.wait().await.unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    let e = second.task("no-such-task").get().await.unwrap_err();
    assert_eq!(e.code(), Some(-32602), "{e}");
}

#[tokio::test]
async fn a_listener_hears_its_task_change_over_http() {
    let f = fixture();
    let url = common::http_server(f.server.clone()).await;
    let c = client(HttpTransport::new(&url).unwrap(), true).await;
    let ToolCallStart::Task(task) = c
        .start_tool_call("deploy", json!({}), CallOptions::default())
        .await
        .unwrap()
    else {
        panic!("deploy answered plainly to a client with tasks");
    };
    let id = task.id().to_owned();
    let mut sub = c
        .listen(SubscriptionFilter {
            task_ids: Some(vec![id.clone(), "no-such-task".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        sub.acknowledged().task_ids,
        Some(vec![id.clone()]),
        "only tasks the caller has are agreed to"
    );
    // The question may have been asked before the stream opened: look once, then answer it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while task.get().await.unwrap().task.status != TaskStatus::InputRequired {
        assert!(tokio::time::Instant::now() < deadline, "never asked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut answer = JsonObject::new();
    answer.insert(
        "confirm".into(),
        json!({"action": "accept", "content": {"ok": true}}),
    );
    task.answer(answer).await.unwrap();

    let mut seen = Vec::new();
    let done = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("no task notification within 5 s")
            .expect("the stream ended");
        assert_eq!(n.method, "notifications/tasks", "{n:?}");
        let p = n.params.clone().unwrap();
        assert_eq!(p["taskId"], id.as_str(), "{p}");
        assert_eq!(
            p["_meta"]["io.modelcontextprotocol/subscriptionId"],
            serde_json::to_value(sub.id()).unwrap(),
            "{p}"
        );
        assert!(
            p["createdAt"].is_string() && p.get("ttlMs").is_some(),
            "{p}"
        );
        seen.push(p["status"].as_str().unwrap().to_owned());
        if p["status"] == "completed" {
            break p;
        }
    };
    assert_eq!(
        done["result"]["content"][0]["text"], "deployed=true in_task=true",
        "the result is inlined: {done}"
    );
    // Once answered it works again, then completes; no change is reported twice.
    assert_eq!(seen, ["working", "completed"], "{seen:?}");

    // A client that does not declare the extension may not ask.
    let plain = client(HttpTransport::new(&url).unwrap(), false).await;
    let e = plain
        .listen(SubscriptionFilter {
            task_ids: Some(vec![id]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(-32021), "{e}");
}

#[tokio::test]
async fn wait_notified_follows_a_task_by_its_notifications_not_by_polling() {
    // The server suggests polling once a minute (the client polls every 5 s at most): following the task
    // by polling would take seconds, by notifications it takes the task's own time.
    let server = |f: Fixture| f.server;
    for http in [false, true] {
        let f = fixture_polling_every(Duration::from_secs(60));
        let s = server(f);
        let c = if http {
            let url = common::http_server(s).await;
            client(HttpTransport::new(&url).unwrap(), true).await
        } else {
            client(common::duplex_server(s), true).await
        };
        let ToolCallStart::Task(task) = c
            .start_tool_call("deploy", json!({}), CallOptions::default())
            .await
            .unwrap()
        else {
            panic!("deploy answered plainly to a client with tasks");
        };
        let started = std::time::Instant::now();
        let r = task.wait_notified().await.unwrap();
        assert_eq!(r.text_content(), "deployed=true in_task=true");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "http={http}: took {:?}, as long as a poll",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn wait_notified_falls_back_to_polling_when_the_server_does_not_notify() {
    // The server agrees to notify of no task it does not know (nor of another caller's): the listen is
    // acknowledged without the id, and the poll answers.
    let f = fixture();
    let c = client(common::duplex_server(f.server.clone()), true).await;
    let e = c.task("no-such-task").wait_notified().await.unwrap_err();
    assert_eq!(e.code(), Some(-32602), "the poll ran: {e}");
}
