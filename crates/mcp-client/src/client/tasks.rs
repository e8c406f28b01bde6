//! Background tasks: the writer (hands messages to the transport, recovering expired sessions) and the
//! dispatcher (routes what the transport reads).

use mcp_rpc::rt;
use std::sync::{Arc, Weak};

use mcp_protocol::types::methods;
use mcp_protocol::{Era, Message, RequestId};
use tokio::sync::mpsc;

use super::inner::{lock, Inner, MAX_RESENDS};
use super::options::ClientEvent;
use crate::error::Repr;
use crate::transport::{SendOptions, Transport, TransportEvent, TransportKind};

pub(super) async fn writer_loop(
    mut rx: mpsc::Receiver<Message>,
    weak: Weak<Inner>,
    transport: Arc<dyn Transport>,
    kind: TransportKind,
) {
    while let Some(msg) = rx.recv().await {
        let opts = match (&msg, weak.upgrade()) {
            (Message::Request(r), Some(inner)) => {
                lock(&inner.hints).remove(&r.id).unwrap_or_default()
            }
            _ => SendOptions::default(),
        };
        let job = deliver(weak.clone(), transport.clone(), msg, opts);
        match kind {
            // One POST per message, concurrently: a long reply stream must not hold back other messages.
            TransportKind::Http => {
                rt::spawn(job);
            }
            // One ordered stream: write in order.
            TransportKind::Stream => job.await,
        }
    }
}

/// Hand one message to the transport; on session expiry, recover and re-send it.
pub(super) async fn deliver(
    weak: Weak<Inner>,
    transport: Arc<dyn Transport>,
    mut msg: Message,
    opts: SendOptions,
) {
    // No copy is kept: a message refused for its expired session comes back with the refusal.
    let sent = Sent::of(&msg);
    let mut resends = 0;
    loop {
        let mut err = match transport.send(msg, opts.clone()).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let Some(inner) = weak.upgrade() else { return };
        let unsent = err.take_unsent();
        match err.repr() {
            Repr::SessionGone {
                session_id,
                generation,
                ..
            } => {
                let (session_id, generation) = (session_id.clone(), *generation);
                let again = unsent.filter(|_| resends < MAX_RESENDS && sent.resendable(&inner));
                let Some(again) = again else {
                    sent.fail(
                        &inner,
                        Repr::SessionExpired {
                            session_id,
                            reason: "the server refused the message after its session expired"
                                .into(),
                        }
                        .into(),
                    );
                    return;
                };
                msg = again;
                resends += 1;
                // 404 means the message never ran: once a new session exists, send it again.
                if let Err(e) = inner.recover(session_id, generation).await {
                    sent.fail(&inner, e);
                    return;
                }
            }
            Repr::Cancelled => return,
            Repr::StreamBroken(reason) if inner.era() == Era::Modern => {
                let reason = reason.clone();
                // Not re-issued (or re-issued to no avail): the server may have run it.
                let method = sent.method.clone().unwrap_or_default();
                sent.fail(&inner, Repr::OutcomeUnknown { method, reason }.into());
                return;
            }
            _ => {
                sent.fail(&inner, err);
                return;
            }
        }
    }
}

/// What [`deliver`] keeps of a message the transport took: enough to fail it, or to tell whether it may
/// go again.
struct Sent {
    /// The id, for a request.
    request: Option<RequestId>,
    method: Option<String>,
    /// A response or an error (to a server request).
    reply: bool,
}

impl Sent {
    fn of(msg: &Message) -> Self {
        Self {
            request: match msg {
                Message::Request(r) => Some(r.id.clone()),
                _ => None,
            },
            method: msg.method().map(str::to_owned),
            reply: matches!(msg, Message::Response(_) | Message::Error(_)),
        }
    }

    /// Whether the message may be sent again on a new session.
    fn resendable(&self, inner: &Inner) -> bool {
        if let Some(id) = &self.request {
            return !lock(&inner.internal).contains(id);
        }
        // A reply: the server request it answers died with the session.
        !self.reply
            && self.method.as_deref() != Some(methods::NOTIF_CANCELLED)
            && self.method.as_deref() != Some(methods::NOTIF_INITIALIZED)
    }

    fn fail(&self, inner: &Inner, err: crate::Error) {
        match &self.request {
            Some(id) => inner.fail_request(id, err),
            None => {
                tracing::debug!(method = ?self.method, error = %err, "could not send a message")
            }
        }
    }
}

pub(super) async fn dispatch_loop(mut rx: mpsc::Receiver<TransportEvent>, weak: Weak<Inner>) {
    while let Some(ev) = rx.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        match ev {
            TransportEvent::Message(m) => inner.on_message(m),
            TransportEvent::Closed(reason) => {
                if !inner.closed.is_cancelled() {
                    tracing::debug!(?reason, "connection closed by the server");
                    inner
                        .disconnected
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    inner.peer.close();
                    let _ = inner.events.send(ClientEvent::Closed { reason });
                }
            }
        }
    }
}
