//! `subscriptions/listen` streams: [`Client::listen`] and the [`Subscription`] it returns.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::Stream;
use mcp_protocol::types::{methods, SubscriptionFilter, SubscriptionsAcknowledgedParams};
use mcp_protocol::{Era, Notification, RequestId};
use mcp_rpc::rt::{self, JoinHandle};
use mcp_rpc::RequestOptions;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::handle::Client;
use super::inner::{lock, ListenRoute, FOREVER};
use crate::error::Error;
use crate::trace_context::{Outgoing, RequestFacts};
use crate::transport::{SendOptions, TransportKind};

impl Client {
    // ----- listen -------------------------------------------------------------------------------------

    /// Open a `subscriptions/listen` stream (2026-07-28) and wait for the server's acknowledgement.
    ///
    /// The returned [`Subscription`] yields the notifications tagged with its id (demultiplexed from any
    /// other traffic); dropping it closes the stream (HTTP) or sends `notifications/cancelled` (stdio).
    ///
    /// - The acknowledgement must come within [`ClientOptions::request_timeout`](crate::ClientOptions::request_timeout), else this fails with
    ///   an error of kind [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) and the stream is closed. After it the stream is open-ended.
    /// - The subscription holds at most [`ClientOptions::subscription_buffer`](crate::ClientOptions::subscription_buffer) unread notifications. One more
    ///   ends it: the listen stream is closed, the subscription yields what it holds and then `None`, and
    ///   [`Subscription::error`] is of kind [`ErrorKind::SubscriptionOverflow`](crate::ErrorKind::SubscriptionOverflow) (with a warning in the log). It is
    ///   never left to block the connection (every other request's replies come through the same reader) nor
    ///   to grow without bound; and ending it, rather than silently dropping notifications, tells the
    ///   application that what it knows may be stale (listen again and re-read).
    pub async fn listen(&self, filter: SubscriptionFilter) -> Result<Subscription, Error> {
        let inner = self.inner.clone();
        let (era, version) = inner.era_version();
        if era != Era::Modern {
            return Err(Error::unsupported(
                "subscriptions/listen is a 2026-07-28 method; legacy servers push notifications (see Client::events)",
            ));
        }
        let id = inner.peer.next_id();
        let (tx, mut rx) = mpsc::channel(inner.opts.subscription_buffer.max(1));
        let cancel = CancellationToken::new();
        let end = Arc::new(OnceLock::new());
        lock(&inner.listens).insert(
            id.clone(),
            ListenRoute {
                tx,
                cancel: cancel.clone(),
                end: end.clone(),
            },
        );
        let mut params = inner.decorate(Some(json!({ "notifications": filter })), version);
        let mut headers = Vec::new();
        let outgoing = Outgoing::start(
            RequestFacts {
                method: methods::SUBSCRIPTIONS_LISTEN,
                id: &id,
                version,
                options: &inner.opts,
                http: inner.kind == TransportKind::Http,
            },
            &mut params,
            &mut headers,
        );
        let reissue = inner.may_reissue(era, methods::SUBSCRIPTIONS_LISTEN, params.as_ref());
        if reissue || !headers.is_empty() {
            let hints = SendOptions { reissue, headers };
            lock(&inner.hints).insert(id.clone(), hints);
        }
        let (done_tx, done_rx) = oneshot::channel();
        let opts = RequestOptions::default()
            .timeout(FOREVER)
            .max_total(FOREVER)
            .cancel(cancel.clone())
            .notify_cancel(true);
        let task = {
            let inner = inner.clone();
            let id = id.clone();
            let end = end.clone();
            rt::spawn(async move {
                let r = outgoing
                    .run(inner.peer.request_with_id(
                        id.clone(),
                        methods::SUBSCRIPTIONS_LISTEN,
                        params,
                        opts,
                    ))
                    .await;
                outgoing.finish(&r);
                let r = inner.map_result(&id, r);
                if let Err(e) = &r {
                    // Before the route goes: the subscription ends when it does, and then says why.
                    let _ = end.set(e.clone());
                }
                lock(&inner.listens).remove(&id);
                lock(&inner.hints).remove(&id);
                let _ = done_tx.send(r);
            })
        };
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let ack_timeout = inner.opts.request_timeout;
        let first = rt::timeout(ack_timeout, rx.recv())
            .await
            .map_err(|_| Error::timeout(ack_timeout))?;
        let acknowledged = match first {
            Some(n) if n.method == methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED => n
                .params
                .and_then(|p| serde_json::from_value::<SubscriptionsAcknowledgedParams>(p).ok())
                .map(|p| p.notifications)
                .unwrap_or_default(),
            Some(n) => {
                return Err(Error::protocol(format!(
                    "the listen stream began with {} instead of an acknowledgement",
                    n.method
                )))
            }
            None => {
                return match done_rx.await {
                    Ok(Err(e)) => Err(e),
                    _ => Err(Error::protocol(
                        "the listen stream ended before it was acknowledged".into(),
                    )),
                }
            }
        };
        guard.0 = None;
        Ok(Subscription {
            id,
            acknowledged,
            rx,
            cancel,
            end,
            _task: task,
        })
    }
}

/// Cancels the token when dropped, unless disarmed (set to `None`).
pub(super) struct CancelOnDrop(Option<CancellationToken>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.cancel();
        }
    }
}

/// A `subscriptions/listen` stream: the notifications the server sends for it, in order.
///
/// Dropping it (or [`Subscription::close`]) ends the subscription.
///
/// ```no_run
/// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
/// use mcp_protocol::types::SubscriptionFilter;
/// let mut sub = client.listen(SubscriptionFilter { tools_list_changed: Some(true), ..Default::default() }).await?;
/// println!("subscribed as {:?}, server agreed to {:?}", sub.id(), sub.acknowledged());
/// while let Some(n) = sub.next().await {
///     if n.method == "notifications/tools/list_changed" {
///         let tools = client.list_tools(None).await?;
///         println!("{} tools now", tools.tools.len());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Subscription {
    pub(super) id: RequestId,
    pub(super) acknowledged: SubscriptionFilter,
    pub(super) rx: mpsc::Receiver<Notification>,
    pub(super) cancel: CancellationToken,
    pub(super) end: Arc<OnceLock<Error>>,
    pub(super) _task: JoinHandle<()>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("acknowledged", &self.acknowledged)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subscription id (the listen request's id).
    pub fn id(&self) -> &RequestId {
        &self.id
    }
    /// What the server agreed to send (a subset of what was asked).
    pub fn acknowledged(&self) -> &SubscriptionFilter {
        &self.acknowledged
    }
    /// The next notification, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Notification> {
        futures::StreamExt::next(self).await
    }
    /// End the subscription.
    pub fn close(self) {
        drop(self)
    }
    /// Why the subscription ended, once it has ended with an error: [`ErrorKind::SubscriptionOverflow`](crate::ErrorKind::SubscriptionOverflow)
    /// when the application did not keep up, or the listen request's failure (the connection closed, …).
    /// `None` while it runs, and after the server ended it normally.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_client::Client) -> Result<(), mcp_client::Error> {
    /// let mut sub = client.listen(Default::default()).await?;
    /// while let Some(n) = sub.next().await {
    ///     println!("{}", n.method);
    /// }
    /// if let Some(e) = sub.error() {
    ///     eprintln!("the subscription ended: {e}; listening again");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.end.get()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Stream for Subscription {
    type Item = Notification;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        loop {
            match self.rx.poll_recv(cx) {
                // A re-issued listen is acknowledged again; that is not news for the application.
                Poll::Ready(Some(n)) if n.method == methods::NOTIF_SUBSCRIPTIONS_ACKNOWLEDGED => {
                    continue
                }
                other => return other,
            }
        }
    }
}
