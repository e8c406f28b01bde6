//! The two servers under test: a raw hyper "ceiling" and the MCP endpoint, both on 127.0.0.1:0.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mcp::protocol::types::{CallToolResult, Tool};
use mcp::server::http::{serve_listener, HttpConfig, McpService, ResponseMode};
use mcp::server::{Error, RequestContext, Server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process until stopped.
pub struct Running {
    pub addr: SocketAddr,
    /// The MCP endpoint (None for the ceiling).
    pub service: Option<McpService>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stop accepting; connections end when their clients close them.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
    }
}

/// Answers every request with `body` (after reading the request body), over plain HTTP/1.1 with
/// `TCP_NODELAY`: the least any HTTP server on this machine can do per call.
pub async fn start_ceiling(body: Bytes) -> std::io::Result<Running> {
    start_raw(Reply::Fixed(body)).await
}

/// [`start_ceiling`] that also does the least any JSON-RPC server does: parse the request body into a
/// `serde_json::Value` and serialize a response carrying its `id` and the `result` of `body` (a JSON-RPC
/// response). What our server spends beyond this is the SDK's own cost; the rest is JSON's.
pub async fn start_json_ceiling(body: Bytes) -> std::io::Result<Running> {
    let reply: serde_json::Value = serde_json::from_slice(&body).map_err(std::io::Error::other)?;
    let result = reply.get("result").cloned().ok_or_else(|| {
        std::io::Error::other("the JSON ceiling's body must be a JSON-RPC result")
    })?;
    start_raw(Reply::JsonRpc(std::sync::Arc::new(result))).await
}

/// [`start_ceiling`] that does the least a JSON-RPC server with a *typed* message model does: parse the
/// request body into borrowed typed structs (the id and `_meta` stay raw text, the tool's arguments
/// deserialize straight into the echo tool's own type), run the echo tool, and serialize its
/// `CallToolResult` with the fields of `body`'s result it lacks (the modern era's `resultType` and
/// `_meta`) spliced in as text, as our server does. It answers with the same bytes as our server. What it
/// spends beyond [`start_ceiling`] is the floor of a typed model, as [`start_json_ceiling`]'s is of a
/// `Value` one.
pub async fn start_typed_ceiling(body: Bytes) -> std::io::Result<Running> {
    start_raw(Reply::Typed(std::sync::Arc::from(typed_extra(&body)?))).await
}

/// The fields of `body`'s result that `CallToolResult` does not write, as `,"name":value` text.
fn typed_extra(body: &[u8]) -> std::io::Result<String> {
    let reply: serde_json::Value = serde_json::from_slice(body).map_err(std::io::Error::other)?;
    let Some(serde_json::Value::Object(result)) = reply.get("result") else {
        return Err(std::io::Error::other(
            "the typed ceiling's body must be a JSON-RPC result",
        ));
    };
    let mut extra = String::new();
    for (k, v) in result {
        if !matches!(k.as_str(), "content" | "structuredContent" | "isError") {
            extra.push(',');
            extra.push_str(&serde_json::to_string(k).map_err(std::io::Error::other)?);
            extra.push(':');
            extra.push_str(&serde_json::to_string(v).map_err(std::io::Error::other)?);
        }
    }
    Ok(extra)
}

/// What a raw server answers: the same bytes every time, or a JSON-RPC response to each request.
#[derive(Clone)]
enum Reply {
    Fixed(Bytes),
    JsonRpc(std::sync::Arc<serde_json::Value>),
    /// The typed ceiling: the result's fields beyond `CallToolResult`'s, as `,"name":value` text.
    Typed(std::sync::Arc<str>),
}

/// The typed ceiling's reply to `request` (see [`start_typed_ceiling`]); empty if it is not a call of the
/// echo tool.
fn typed_rpc_reply(extra: &str, request: &[u8]) -> Bytes {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use std::borrow::Cow;
    #[derive(Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
        #[serde(borrow)]
        method: Cow<'a, str>,
        #[serde(borrow)]
        params: CallParams<'a>,
    }
    #[derive(Deserialize)]
    struct CallParams<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        arguments: EchoArgs<'a>,
        #[serde(rename = "_meta", borrow, default)]
        _meta: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct EchoArgs<'a> {
        #[serde(borrow)]
        text: Cow<'a, str>,
    }
    let Ok(req) = serde_json::from_slice::<Request>(request) else {
        return Bytes::new();
    };
    if req.method != "tools/call" || req.params.name != "echo" {
        return Bytes::new();
    }
    let result = CallToolResult::text(format!("echo:{}", req.params.arguments.text));
    let mut out = Vec::with_capacity(128 + extra.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(req.id.get().as_bytes());
    out.extend_from_slice(br#","result":"#);
    if serde_json::to_writer(&mut out, &result).is_err() {
        return Bytes::new();
    }
    out.pop(); // the result's closing brace: its extra fields go before it
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// The JSON-RPC ceiling's reply to `request`: its id, and `result`.
fn json_rpc_reply(result: &serde_json::Value, request: &[u8]) -> Bytes {
    let id = serde_json::from_slice::<serde_json::Value>(request)
        .ok()
        .and_then(|mut v| v.get_mut("id").map(serde_json::Value::take))
        .unwrap_or_default();
    // Serialized from borrowed parts: the result is not copied per call.
    #[derive(serde::Serialize)]
    struct Response<'a> {
        jsonrpc: &'static str,
        id: serde_json::Value,
        result: &'a serde_json::Value,
    }
    let response = Response {
        jsonrpc: "2.0",
        id,
        result,
    };
    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
}

async fn start_raw(body: Reply) -> std::io::Result<Running> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = &mut stopped => return,
            };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        let request = req.into_body().collect().await;
                        let reply = match &body {
                            // The raw ceiling does not look at the request.
                            Reply::Fixed(b) => b.clone(),
                            Reply::JsonRpc(result) => json_rpc_reply(
                                result,
                                &request.map(|b| b.to_bytes()).unwrap_or_default(),
                            ),
                            Reply::Typed(extra) => typed_rpc_reply(
                                extra,
                                &request.map(|b| b.to_bytes()).unwrap_or_default(),
                            ),
                        };
                        let mut r = Response::new(Full::new(reply));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(Running {
        addr,
        service: None,
        stop: Some(stop),
        task,
    })
}

/// Knobs of the MCP endpoint, for experiments; the defaults are `HttpConfig::default()`.
#[derive(Debug, Clone)]
pub struct McpOpts {
    pub response_mode: ResponseMode,
    pub keepalive: bool,
    pub max_sessions: usize,
    /// Session records, events and the bus on this Redis (`mcp_redis::Redis::configure`); in memory if
    /// `None`.
    pub redis: Option<RedisBackend>,
}

/// Where a Redis-backed endpoint keeps its state.
#[derive(Debug, Clone)]
pub struct RedisBackend {
    pub url: String,
    /// Key prefix of this run (`Redis::prefix`), so a shared Redis can be cleaned up after it.
    pub prefix: String,
}

/// The MCP server with one `echo` tool (returns `echo:<text>`), served by `serve_listener`.
pub async fn start_mcp(opts: McpOpts) -> std::io::Result<Running> {
    let tool = Tool {
        name: "echo".into(),
        description: Some("Echo the text back".into()),
        input_schema: serde_json::json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"]
        }),
        ..Default::default()
    };
    let server = Server::builder("mcp-bench", "0.1.0")
        .tool(
            tool,
            |_ctx: RequestContext, args: mcp::protocol::JsonObject| async move {
                let text = args.get("text").and_then(|v| v.as_str()).unwrap_or("");
                Ok::<_, Error>(CallToolResult::text(format!("echo:{text}")))
            },
        )
        .build();
    let defaults = HttpConfig::default();
    let max_sessions = opts.max_sessions.max(defaults.max_sessions);
    let keepalive = if opts.keepalive {
        defaults.keepalive
    } else {
        None
    };
    let mut config = defaults
        .response_mode(opts.response_mode)
        .keepalive(keepalive)
        .max_sessions(max_sessions);
    if let Some(r) = &opts.redis {
        // A connection of this endpoint's own, made on the runtime that serves it.
        config = mcp_redis::Redis::open(&r.url)
            .map_err(std::io::Error::other)?
            .prefix(&r.prefix)
            .configure(config);
    }
    let bound = serve_listener(server, config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = bound.local_addr()?;
    let service = bound.service().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = bound
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        service: Some(service),
        stop: Some(stop),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CallSpec;

    /// The typed ceiling answers an echo call with what our server would: the call's id, the echoed text,
    /// and the fields of the given reply that `CallToolResult` lacks.
    #[test]
    fn typed_ceiling_answers_like_the_server() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"echo:ok"}],"resultType":"complete","_meta":{"k":[1,"v"]}}}"#;
        let extra = typed_extra(body).unwrap();
        let reply = typed_rpc_reply(&extra, &CallSpec::modern().body(7));
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        let mut want: serde_json::Value = serde_json::from_slice(body).unwrap();
        want["id"] = 7.into();
        assert_eq!(reply, want);
        // Not a call of the echo tool: no answer.
        let other = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
        assert!(typed_rpc_reply(&extra, other).is_empty());
        assert!(typed_extra(br#"{"jsonrpc":"2.0","id":1,"error":{}}"#).is_err());
    }
}
