//! Server→client requests on legacy sessions: sent on the channel of the request that caused them, answered
//! through the session's pending table. The engine is `mcp_rpc`'s, so a request the handler stops waiting for
//! (cancelled, timed out, session closed) leaves the table and is cancelled on the wire at once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use mcp_protocol::RequestId;
use mcp_rpc::{PendingRequests, RequestOptions};
use serde_json::Value;

use crate::context::ClientRequester;
use crate::notifier::Notifier;

/// Where server→client requests wait for their answers, and where their ids come from.
pub(crate) struct RequestTable {
    pending: PendingRequests,
    next_id: AtomicI64,
}

impl RequestTable {
    /// A table whose first request id is `s{first_id}`.
    pub fn new(first_id: i64) -> Self {
        Self {
            pending: PendingRequests::new(),
            next_id: AtomicI64::new(first_id),
        }
    }

    /// The requests awaiting their answers.
    pub fn pending(&self) -> &PendingRequests {
        &self.pending
    }
}

/// What holds the [`RequestTable`] a [`ChannelRequester`] uses: the table itself (a stdio connection's), or a
/// legacy HTTP session, which makes its table at the first server→client request (most sessions make none,
/// and an idle session should cost as little as it can).
pub(crate) trait TableHolder: Send + Sync + 'static {
    fn table(&self) -> &RequestTable;
}

impl TableHolder for RequestTable {
    fn table(&self) -> &RequestTable {
        self
    }
}

/// Sends requests on `out` and waits for the responses that the transport hands to the holder's table.
pub(crate) struct ChannelRequester<H: ?Sized> {
    pub out: Notifier,
    pub holder: Arc<H>,
    pub timeout: Duration,
}

impl<H: TableHolder + ?Sized> ClientRequester for ChannelRequester<H> {
    fn request(
        &self,
        method: &'static str,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, mcp_rpc::Error>> {
        let table = self.holder.table();
        // Server-chosen ids are strings so they never collide with the client's numeric ids in logs.
        let id =
            RequestId::String(format!("s{}", table.next_id.fetch_add(1, Ordering::Relaxed)).into());
        // One deadline for the whole wait: a human may be answering, and the client sends no progress.
        let opts = RequestOptions::default()
            .timeout(self.timeout)
            .max_total(self.timeout);
        table
            .pending
            .request(self.out.sender(), id, method, Some(params), opts)
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_protocol::Message;
    use mcp_protocol::Response;
    use tokio::sync::mpsc;

    fn requester(timeout: Duration) -> (ChannelRequester<RequestTable>, mpsc::Receiver<Message>) {
        let (out, rx) = mpsc::channel(8);
        let r = ChannelRequester {
            out: out.into(),
            holder: Arc::new(RequestTable::new(1)),
            timeout,
        };
        (r, rx)
    }

    #[tokio::test]
    async fn an_abandoned_request_leaves_the_table_and_is_cancelled() {
        let (r, mut rx) = requester(Duration::from_secs(300));
        let mut fut = r.request("elicitation/create", serde_json::json!({}));
        tokio::select! { biased; _ = &mut fut => panic!(), _ = async {} => {} }
        let Some(Message::Request(req)) = rx.recv().await else {
            panic!()
        };
        assert_eq!(req.id, RequestId::from("s1"));
        assert_eq!(r.holder.pending().len(), 1);
        drop(fut);
        assert_eq!(r.holder.pending().len(), 0);
        let Some(Message::Notification(n)) = rx.recv().await else {
            panic!("no cancellation")
        };
        assert_eq!(n.method, "notifications/cancelled");
        assert_eq!(n.params.unwrap()["requestId"], "s1");
        assert!(!r
            .holder
            .pending()
            .resolve(Message::Response(Response::new(req.id, Value::Null))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_out_request_is_cancelled_and_answers_go_to_the_right_request() {
        let (r, mut rx) = requester(Duration::from_secs(5));
        let res = r.request("sampling/createMessage", Value::Null).await;
        assert!(matches!(res, Err(e) if e.is_timeout()));
        assert!(matches!(rx.recv().await, Some(Message::Request(_))));
        assert!(
            matches!(rx.recv().await, Some(Message::Notification(n)) if n.method == "notifications/cancelled")
        );
        assert!(r.holder.pending().is_empty());

        let fut = r.request("roots/list", Value::Null);
        let holder = r.holder.clone();
        let answer = async move {
            let Some(Message::Request(req)) = rx.recv().await else {
                panic!()
            };
            assert_eq!(req.id, RequestId::from("s2"));
            holder.pending().resolve(Message::Response(Response::new(
                req.id,
                serde_json::json!({"roots": []}),
            )));
            rx
        };
        let (res, mut rx) = tokio::join!(fut, answer);
        assert_eq!(res.unwrap(), serde_json::json!({"roots": []}));
        assert!(
            rx.try_recv().is_err(),
            "an answered request is not cancelled"
        );
    }
}
