use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_protocol::types::{methods, CancelledParams, ProgressParams};
use mcp_protocol::{Message, Notification, Request, RequestId};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::pending::ProgressRoute;
use crate::{Error, PendingRequests};

/// Per-request options.
///
/// Built from [`Default`] and the setters, so new options are not a breaking change:
///
/// ```
/// use std::time::Duration;
/// let opts = mcp_rpc::RequestOptions::default().timeout(Duration::from_secs(5)).notify_cancel(false);
/// assert_eq!(opts.timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Time allowed without any response or progress (default 60 s).
    pub timeout: Duration,
    /// Progress resets the timeout; this caps the total (default 10 min).
    pub max_total: Duration,
    /// Receives this request's progress notifications; a progress token is added to `_meta` when set.
    ///
    /// The channel is bounded by its creator, and the engine never waits on it: when it is full (its reader
    /// is behind) a notification is dropped rather than stalling the connection's reader or queueing without
    /// end. Progress is advisory, each notification supersedes the last, and a dropped one still resets the
    /// request's idle timeout.
    pub progress: Option<mpsc::Sender<ProgressParams>>,
    /// Cancels the request from outside.
    pub cancel: Option<CancellationToken>,
    /// Send `notifications/cancelled` when the request times out or is cancelled (default true).
    pub notify_cancel: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_total: Duration::from_secs(600),
            progress: None,
            cancel: None,
            notify_cancel: true,
        }
    }
}

impl RequestOptions {
    /// Time allowed without any response or progress.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The cap on the total time, however much progress arrives.
    pub fn max_total(mut self, max_total: Duration) -> Self {
        self.max_total = max_total;
        self
    }
    /// Where this request's progress notifications go (see [`RequestOptions::progress`](#structfield.progress)).
    pub fn progress(mut self, tx: mpsc::Sender<ProgressParams>) -> Self {
        self.progress = Some(tx);
        self
    }
    /// A token that cancels the request from outside.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
    /// Whether to send `notifications/cancelled` when the request times out or is cancelled.
    pub fn notify_cancel(mut self, notify: bool) -> Self {
        self.notify_cancel = notify;
        self
    }
}

struct Shared {
    outbound: mpsc::Sender<Message>,
    pending: PendingRequests,
    next_id: AtomicI64,
}

/// One side of a JSON-RPC connection: sends requests and notifications on an outbound channel and matches the
/// responses handed to [`Peer::handle_response`].
#[derive(Clone)]
pub struct Peer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("pending", &self.shared.pending.len())
            .finish()
    }
}

/// Removes the pending entry and progress route when a request ends for any reason, including the caller
/// dropping the future; a request that was sent and not answered is cancelled on the wire.
struct InFlight<'a> {
    pending: &'a PendingRequests,
    outbound: &'a mpsc::Sender<Message>,
    id: RequestId,
    token: Option<String>,
    sent: bool,
    done: bool,
    notify_cancel: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let was_pending = self.pending.remove(&self.id);
        if let Some(t) = &self.token {
            self.pending
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(t);
        }
        // Not sent: the peer never saw it, so there is nothing to cancel. Not pending: it was answered (or the
        // connection failed every request) just before the caller stopped waiting.
        if !self.done && self.sent && was_pending && self.notify_cancel {
            let params = CancelledParams {
                request_id: Some(self.id.clone()),
                reason: Some("request cancelled by sender".into()),
                meta: None,
            };
            let n = Notification::new(methods::NOTIF_CANCELLED, serde_json::to_value(params).ok());
            // Drop cannot wait; when the outbound queue is full, a task delivers the notification once there
            // is room, so a busy connection does not leave the peer working on an abandoned request.
            if let Err(mpsc::error::TrySendError::Full(msg)) =
                self.outbound.try_send(Message::Notification(n))
            {
                let tx = self.outbound.clone();
                crate::rt::try_spawn(async move {
                    let _ = tx.send(msg).await;
                });
            }
        }
    }
}

impl Peer {
    /// A peer that writes to `outbound`.
    pub fn new(outbound: mpsc::Sender<Message>) -> Self {
        Self {
            shared: Arc::new(Shared {
                outbound,
                pending: PendingRequests::new(),
                next_id: AtomicI64::new(1),
            }),
        }
    }

    /// A fresh request id, never reused by this peer.
    pub fn next_id(&self) -> RequestId {
        RequestId::Number(self.shared.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), Error> {
        self.send(Message::Notification(Notification::new(method, params)))
            .await
    }

    /// Send any message.
    pub async fn send(&self, msg: Message) -> Result<(), Error> {
        self.shared
            .outbound
            .send(msg)
            .await
            .map_err(|_| Error::closed())
    }

    /// Send a request and wait for its result.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        opts: RequestOptions,
    ) -> Result<Value, Error> {
        let id = self.next_id();
        self.request_with_id(id, method, params, opts).await
    }

    /// Send a request with a caller-chosen id and wait for its result.
    pub async fn request_with_id(
        &self,
        id: RequestId,
        method: &str,
        params: Option<Value>,
        opts: RequestOptions,
    ) -> Result<Value, Error> {
        let shared = &self.shared;
        shared
            .pending
            .request(&shared.outbound, id, method, params, opts)
            .await
    }

    /// Route an inbound response or error to its waiter. Returns false when no request waits for it.
    pub fn handle_response(&self, msg: Message) -> bool {
        self.shared.pending.resolve(msg)
    }

    /// Route an inbound `notifications/progress` to the request that asked for it. Returns false when no
    /// request owns the token.
    pub fn handle_progress(&self, params: &ProgressParams) -> bool {
        self.shared.pending.handle_progress(params)
    }

    /// Fail every pending request (the connection closed).
    pub fn close(&self) {
        self.shared.pending.fail_all(Error::closed());
    }

    /// Number of requests waiting for a response.
    pub fn pending_len(&self) -> usize {
        self.shared.pending.len()
    }
}

impl PendingRequests {
    /// Send a request with the id `id` on `outbound` and wait for the response that [`resolve`](Self::resolve)
    /// routes to it, with the timeouts, cancellation and progress of `opts`.
    ///
    /// However the wait ends (answer, timeout, cancellation, or the caller dropping this future) the entry
    /// leaves the table; a request that was sent and not answered is cancelled on the wire with
    /// `notifications/cancelled` on `outbound` (unless `opts.notify_cancel` is false).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use mcp_protocol::Message;
    /// use mcp_rpc::{PendingRequests, RequestOptions, Error};
    ///
    /// let pending = PendingRequests::new();
    /// let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    /// let opts = RequestOptions::default().timeout(Duration::from_millis(10));
    /// // Nobody answers: the request times out, leaves the table, and is cancelled on the wire.
    /// let r = pending.request(&tx, "s1".into(), "elicitation/create", None, opts).await;
    /// assert!(matches!(r, Err(e) if e.is_timeout()));
    /// assert!(pending.is_empty());
    /// assert!(matches!(rx.recv().await, Some(Message::Request(_))));
    /// let Some(Message::Notification(n)) = rx.recv().await else { panic!() };
    /// assert_eq!(n.method, "notifications/cancelled");
    /// # }
    /// ```
    pub async fn request(
        &self,
        outbound: &mpsc::Sender<Message>,
        id: RequestId,
        method: &str,
        mut params: Option<Value>,
        opts: RequestOptions,
    ) -> Result<Value, Error> {
        let touched = Arc::new(tokio::sync::Notify::new());
        let token = opts.progress.as_ref().map(|tx| {
            let token = format!("p{id}");
            let obj = params.get_or_insert_with(|| Value::Object(Default::default()));
            if let Some(obj) = obj.as_object_mut() {
                let meta = obj
                    .entry("_meta")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("progressToken".into(), Value::String(token.clone()));
                }
            }
            self.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(
                    token.clone(),
                    ProgressRoute {
                        tx: tx.clone(),
                        touched: touched.clone(),
                    },
                );
            token
        });
        let rx = self.register(id.clone());
        let mut guard = InFlight {
            pending: self,
            outbound,
            id: id.clone(),
            token,
            sent: false,
            done: false,
            notify_cancel: opts.notify_cancel,
        };
        let cancel = opts.cancel.unwrap_or_default();
        let hard = crate::rt::sleep(opts.max_total);
        // The deadlines run from the call, not from the hand-over: a peer that stops reading (a full outbound
        // queue behind a blocked write) must time the request out, not hang it.
        let idle = crate::rt::sleep(opts.timeout);
        tokio::pin!(hard, rx, idle);
        tokio::select! {
            r = outbound.send(Message::Request(Request::new(id, method, params))) => {
                r.map_err(|_| Error::closed())?
            }
            _ = &mut idle => return Err(Error::timeout(opts.timeout)),
            _ = &mut hard => return Err(Error::timeout(opts.max_total)),
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
        // From here the peer may be working on it: stopping early is cancelled on the wire.
        guard.sent = true;
        loop {
            tokio::select! {
                r = &mut rx => {
                    guard.done = true;
                    return r.unwrap_or(Err(Error::closed()));
                }
                _ = touched.notified() => {
                    crate::rt::reset(idle.as_mut(), opts.timeout);
                    continue;
                }
                _ = &mut idle => return Err(Error::timeout(opts.timeout)),
                _ = &mut hard => return Err(Error::timeout(opts.max_total)),
                _ = cancel.cancelled() => return Err(Error::cancelled()),
            }
        }
    }

    /// Route an inbound `notifications/progress` to the request that asked for it. Returns false when no
    /// request owns the token. Never waits: see [`RequestOptions::progress`].
    pub fn handle_progress(&self, params: &ProgressParams) -> bool {
        let key = match &params.progress_token {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let routes = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        match routes.get(&key) {
            Some(route) => {
                route.touched.notify_one();
                if let Err(mpsc::error::TrySendError::Full(_)) = route.tx.try_send(params.clone()) {
                    tracing::debug!(token = %key, "progress reader is behind; notification dropped");
                }
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_protocol::{ErrorObject, ErrorResponse, Response};

    fn pair() -> (Peer, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(16);
        (Peer::new(tx), rx)
    }

    #[tokio::test]
    async fn matches_responses_and_errors() {
        let (peer, mut rx) = pair();
        let p2 = peer.clone();
        let task = tokio::spawn(async move {
            let a = p2.request("a", None, RequestOptions::default()).await;
            let b = p2.request("b", None, RequestOptions::default()).await;
            (a, b)
        });
        let Some(Message::Request(r)) = rx.recv().await else {
            panic!()
        };
        assert!(peer.handle_response(Message::Response(Response::new(r.id, serde_json::json!(1)))));
        let Some(Message::Request(r)) = rx.recv().await else {
            panic!()
        };
        peer.handle_response(Message::Error(ErrorResponse::new(
            Some(r.id),
            ErrorObject::new(-1, "no"),
        )));
        let (a, b) = task.await.unwrap();
        assert_eq!(a.unwrap(), serde_json::json!(1));
        assert!(matches!(b, Err(e) if e.remote_error().map(|o| o.code) == Some(-1)));
        assert!(!peer.handle_response(Message::Response(Response::new(99.into(), Value::Null))));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_and_sends_cancelled() {
        let (peer, mut rx) = pair();
        let opts = RequestOptions {
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let r = peer.request("slow", None, opts).await;
        assert!(matches!(r, Err(e) if e.is_timeout()));
        assert!(matches!(rx.recv().await, Some(Message::Request(_))));
        let Some(Message::Notification(n)) = rx.recv().await else {
            panic!()
        };
        assert_eq!(n.method, "notifications/cancelled");
        assert_eq!(peer.pending_len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_resets_timeout_until_hard_max() {
        let (peer, mut rx) = pair();
        let (ptx, mut prx) = mpsc::channel(16);
        let opts = RequestOptions {
            timeout: Duration::from_secs(2),
            max_total: Duration::from_secs(5),
            progress: Some(ptx),
            ..Default::default()
        };
        let p2 = peer.clone();
        let task = tokio::spawn(async move { p2.request("long", None, opts).await });
        let Some(Message::Request(r)) = rx.recv().await else {
            panic!()
        };
        let token = r.params.unwrap()["_meta"]["progressToken"].clone();
        // Progress every second keeps it alive past the 2 s idle timeout, until the 5 s hard cap.
        for i in 0..6 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            peer.handle_progress(&ProgressParams {
                progress_token: token.clone(),
                progress: i as f64,
                total: None,
                message: None,
                meta: None,
            });
        }
        let r = task.await.unwrap();
        assert!(matches!(r, Err(e) if e.timeout_after() == Some(Duration::from_secs(5))));
        assert!(prx.recv().await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_is_delivered_even_when_the_queue_is_full() {
        let (tx, mut rx) = mpsc::channel(1);
        let peer = Peer::new(tx);
        let opts = RequestOptions {
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let p2 = peer.clone();
        let task = tokio::spawn(async move { p2.request("slow", None, opts).await });
        // The request occupies the only slot; nobody reads until the request has timed out.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(matches!(task.await.unwrap(), Err(e) if e.is_timeout()));
        assert!(matches!(rx.recv().await, Some(Message::Request(_))));
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let Ok(Some(Message::Notification(n))) = next else {
            panic!("the cancellation was lost")
        };
        assert_eq!(n.method, "notifications/cancelled");
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_covers_handing_the_request_over() {
        // Nobody drains the queue (a writer blocked on a peer that stopped reading): the one slot is taken.
        let (tx, _rx) = mpsc::channel(1);
        tx.try_send(Message::Notification(Notification::new("filler", None)))
            .unwrap();
        let peer = Peer::new(tx);
        let opts = RequestOptions {
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let r = tokio::time::timeout(Duration::from_secs(5), peer.request("stuck", None, opts))
            .await
            .expect("the request hung instead of timing out");
        assert!(matches!(r, Err(e) if e.timeout_after() == Some(Duration::from_secs(1))));
        assert_eq!(peer.pending_len(), 0);
    }

    #[tokio::test]
    async fn a_request_nobody_waits_for_leaves_the_table_and_is_cancelled_on_the_wire() {
        // Two outbound channels share one table, as legacy HTTP streams do.
        let pending = PendingRequests::new();
        let (tx_a, mut rx_a) = mpsc::channel(4);
        let (tx_b, mut rx_b) = mpsc::channel(4);
        let mut fut = Box::pin(pending.request(
            &tx_a,
            "s1".into(),
            "elicitation/create",
            None,
            RequestOptions::default(),
        ));
        let answered = pending.request(
            &tx_b,
            "s2".into(),
            "sampling/createMessage",
            None,
            RequestOptions::default(),
        );
        tokio::pin!(answered);
        // Poll both until their requests are out, then stop waiting for the first.
        tokio::select! { biased; _ = &mut fut => panic!(), _ = &mut answered => panic!(), _ = async {} => {} }
        assert_eq!(pending.len(), 2);
        let Some(Message::Request(r)) = rx_a.recv().await else {
            panic!()
        };
        assert_eq!(r.id, RequestId::from("s1"));
        drop(fut);
        assert_eq!(pending.len(), 1);
        let Some(Message::Notification(n)) = rx_a.recv().await else {
            panic!()
        };
        assert_eq!(n.method, "notifications/cancelled");
        assert_eq!(n.params.unwrap()["requestId"], "s1");
        // A late answer finds nothing; the other request still gets its own.
        assert!(!pending.resolve(Message::Response(Response::new("s1".into(), Value::Null))));
        assert!(matches!(rx_b.recv().await, Some(Message::Request(_))));
        assert!(pending.resolve(Message::Response(Response::new(
            "s2".into(),
            serde_json::json!(7)
        ))));
        assert_eq!(answered.await.unwrap(), serde_json::json!(7));
        assert!(pending.is_empty());
        // Answered requests are not cancelled.
        assert!(rx_b.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_request_dropped_before_it_was_sent_is_not_cancelled() {
        let pending = PendingRequests::new();
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(Message::Notification(Notification::new("filler", None)))
            .await
            .unwrap();
        let mut fut =
            Box::pin(pending.request(&tx, 1.into(), "x", None, RequestOptions::default()));
        // The queue is full, so the request is still waiting to be sent.
        tokio::select! { biased; _ = &mut fut => panic!(), _ = async {} => {} }
        assert_eq!(pending.len(), 1);
        drop(fut);
        assert!(pending.is_empty());
        assert!(matches!(rx.recv().await, Some(Message::Notification(n)) if n.method == "filler"));
        tokio::task::yield_now().await;
        assert!(
            rx.try_recv().is_err(),
            "nothing was sent, so nothing is cancelled"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn progress_to_a_reader_that_is_behind_is_dropped_not_queued() {
        let (peer, mut rx) = pair();
        let (ptx, mut prx) = mpsc::channel(2);
        let opts = RequestOptions {
            timeout: Duration::from_secs(2),
            progress: Some(ptx),
            ..Default::default()
        };
        let p2 = peer.clone();
        let task = tokio::spawn(async move { p2.request("long", None, opts).await });
        let Some(Message::Request(r)) = rx.recv().await else {
            panic!()
        };
        let token = r.params.unwrap()["_meta"]["progressToken"].clone();
        let progress = |i: usize| ProgressParams {
            progress_token: token.clone(),
            progress: i as f64,
            total: None,
            message: None,
            meta: None,
        };
        // Nobody reads: the reader of the connection is never held up, and the channel holds only its 2.
        for i in 0..1000 {
            assert!(peer.handle_progress(&progress(i)));
        }
        assert_eq!(prx.recv().await.unwrap().progress, 0.0);
        assert_eq!(prx.recv().await.unwrap().progress, 1.0);
        assert!(prx.try_recv().is_err());
        // Once there is room again, the next notification gets through.
        assert!(peer.handle_progress(&progress(1000)));
        assert_eq!(prx.recv().await.unwrap().progress, 1000.0);
        // Dropped or not, progress kept the request alive; it still times out once progress stops.
        assert!(matches!(task.await.unwrap(), Err(e) if e.is_timeout()));
    }

    #[tokio::test]
    async fn external_cancel() {
        let (peer, _rx) = pair();
        let cancel = CancellationToken::new();
        let opts = RequestOptions {
            cancel: Some(cancel.clone()),
            ..Default::default()
        };
        cancel.cancel();
        assert!(matches!(
            peer.request("x", None, opts).await,
            Err(e) if e.is_cancelled()
        ));
    }
}
