//! A line-delimited JSON-RPC pipe to a server on an in-memory duplex, for the tests that speak raw messages.

use std::time::Duration;

use mcp_server::{serve_connection, ConnectionOptions, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, WriteHalf};

/// The client end of a connection served by [`serve_connection`].
pub struct Pipe {
    w: WriteHalf<tokio::io::DuplexStream>,
    r: Lines<BufReader<ReadHalf<tokio::io::DuplexStream>>>,
}

/// Serve `server` on a fresh duplex and return the client end.
pub fn connect(server: Server) -> Pipe {
    let (client, srv) = tokio::io::duplex(1 << 20);
    let (sr, sw) = tokio::io::split(srv);
    tokio::spawn(serve_connection(
        server,
        BufReader::new(sr),
        sw,
        ConnectionOptions::default(),
    ));
    let (cr, cw) = tokio::io::split(client);
    Pipe {
        w: cw,
        r: BufReader::new(cr).lines(),
    }
}

impl Pipe {
    /// Write one message.
    pub async fn send(&mut self, v: Value) {
        self.w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    }

    /// The next message from the server (at most 5 s away).
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.r.next_line())
            .await
            .expect("no message within 5 s")
            .unwrap()
            .expect("connection closed");
        serde_json::from_str(&line).unwrap()
    }

    /// Send `v` and return the response with its id (skipping notifications and other responses).
    pub async fn call(&mut self, v: Value) -> Value {
        let id = v.get("id").cloned();
        self.send(v).await;
        loop {
            let m = self.recv().await;
            if m.get("id") == id.as_ref() && m.get("method").is_none() {
                return m;
            }
        }
    }
}

/// A 2026-07-28 request: `params` with `_meta` naming the version and `caps`.
pub fn modern_request(id: i64, method: &str, params: Value, caps: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": p})
}
