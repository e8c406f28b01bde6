//! Server→client requests over a channel, with responses routed back through a pending table (legacy era).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use mcp_protocol::{Message, Request, RequestId};
use mcp_rpc::{PendingRequests, RpcError};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::context::ClientRequester;

/// Sends requests on `out` and waits for the responses that the transport hands to `pending`.
pub(crate) struct ChannelRequester {
    pub out: mpsc::Sender<Message>,
    pub pending: Arc<PendingRequests>,
    pub ids: Arc<AtomicI64>,
    pub timeout: Duration,
}

impl ClientRequester for ChannelRequester {
    fn request(
        &self,
        method: &'static str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, RpcError>> {
        async move {
            // Server-chosen ids are strings so they never collide with the client's numeric ids in logs.
            let id =
                RequestId::String(format!("s{}", self.ids.fetch_add(1, Ordering::Relaxed)).into());
            let rx = self.pending.register(id.clone());
            let msg = Message::Request(Request::new(id.clone(), method, Some(params)));
            if self.out.send(msg).await.is_err() {
                self.pending.remove(&id);
                return Err(RpcError::Closed);
            }
            match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(RpcError::Closed),
                Err(_) => {
                    self.pending.remove(&id);
                    Err(RpcError::Timeout(self.timeout))
                }
            }
        }
        .boxed()
    }
}
