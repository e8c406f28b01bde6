//! What the server sends: responses, notifications (progress, listen streams, list changes) and requests.

use mcp_rpc::rt;
use std::sync::Arc;

use mcp_protocol::types::{methods, ProgressParams};
use mcp_protocol::{meta, ErrorResponse, Message, Notification, Request, RequestId, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::inner::{lock, Inner};
use super::options::ClientEvent;
use crate::error::Repr;

impl Inner {
    pub(super) fn on_message(self: &Arc<Self>, m: Message) {
        match m {
            Message::Response(_) | Message::Error(_) => {
                if !self.peer.handle_response(m) {
                    tracing::debug!("ignoring a reply to a request no longer waiting");
                }
            }
            Message::Notification(n) => self.on_notification(n),
            Message::Request(r) => self.on_server_request(r),
        }
    }

    pub(super) fn on_notification(&self, n: Notification) {
        if self.opts.cache {
            self.cache.on_notification(&n.method, n.params.as_ref());
        }
        match n.method.as_str() {
            methods::NOTIF_PROGRESS => {
                if let Some(p) = n
                    .params
                    .clone()
                    .and_then(|p| serde_json::from_value::<ProgressParams>(p).ok())
                {
                    if self.peer.handle_progress(&p) {
                        return;
                    }
                }
            }
            methods::NOTIF_CANCELLED => {
                // The server cancels a request it sent us: stop answering it.
                let id = n
                    .params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .and_then(RequestId::from_value);
                if let Some(tok) = id.and_then(|id| lock(&self.server_requests).remove(&id)) {
                    tok.cancel();
                }
                return;
            }
            _ => {}
        }
        let sub = n
            .params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(meta::SUBSCRIPTION_ID))
            .and_then(RequestId::from_value);
        if let Some(sub) = sub {
            let mut listens = lock(&self.listens);
            if let Some(route) = listens.get(&sub) {
                // Never wait here: this is the reader of every response. An application that does not read
                // its subscription loses it (with an error it can see) rather than stalling the connection.
                if let Err(mpsc::error::TrySendError::Full(n)) = route.tx.try_send(n) {
                    let buffer = self.opts.subscription_buffer.max(1);
                    tracing::warn!(
                        subscription = %sub,
                        buffer,
                        dropped = %n.method,
                        "the application does not read a subscription; ending it"
                    );
                    let _ = route.end.set(Repr::SubscriptionOverflow { buffer }.into());
                    route.cancel.cancel();
                    // Dropping the sender lets the subscription yield what it holds, then end.
                    listens.remove(&sub);
                }
                return;
            }
            tracing::debug!(subscription = %sub, method = %n.method, "notification for an unknown subscription");
            return;
        }
        let _ = self.events.send(ClientEvent::Notification(n));
    }

    pub(super) fn on_server_request(self: &Arc<Self>, req: Request) {
        let token = CancellationToken::new();
        lock(&self.server_requests).insert(req.id.clone(), token.clone());
        let inner = self.clone();
        rt::spawn(async move {
            let outcome = tokio::select! {
                r = inner.answer_server_request(&req) => Some(r),
                _ = token.cancelled() => None,
            };
            lock(&inner.server_requests).remove(&req.id);
            let Some(outcome) = outcome else { return };
            let msg = match outcome {
                Ok(v) => Message::Response(Response::new(req.id, v)),
                Err(e) => Message::Error(ErrorResponse::new(Some(req.id), e)),
            };
            if let Err(e) = inner.peer.send(msg).await {
                tracing::debug!(error = %e, "could not answer a server request");
            }
        });
    }
}
