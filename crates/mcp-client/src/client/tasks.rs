//! Background tasks: the writer (hands messages to the transport, recovering expired sessions) and the
//! dispatcher (routes what the transport reads).

use mcp_rpc::rt;
use std::sync::{Arc, Weak};

use mcp_protocol::types::methods;
use mcp_protocol::{Era, Message};
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
    msg: Message,
    opts: SendOptions,
) {
    let mut resends = 0;
    loop {
        let err = match transport.send(msg.clone(), opts.clone()).await {
            Ok(()) => return,
            Err(e) => e,
        };
        let Some(inner) = weak.upgrade() else { return };
        match err.repr() {
            Repr::SessionGone {
                session_id,
                generation,
            } => {
                let (session_id, generation) = (session_id.clone(), *generation);
                let resendable = match &msg {
                    Message::Request(r) => !lock(&inner.internal).contains(&r.id),
                    Message::Notification(n) => {
                        n.method != methods::NOTIF_CANCELLED
                            && n.method != methods::NOTIF_INITIALIZED
                    }
                    // The server request this answers died with the session.
                    Message::Response(_) | Message::Error(_) => false,
                };
                if !resendable || resends >= MAX_RESENDS {
                    inner.fail_message(
                        &msg,
                        Repr::SessionExpired {
                            session_id,
                            reason: "the server refused the message after its session expired"
                                .into(),
                        }
                        .into(),
                    );
                    return;
                }
                resends += 1;
                // 404 means the message never ran: once a new session exists, send it again.
                if let Err(e) = inner.recover(session_id, generation).await {
                    inner.fail_message(&msg, e);
                    return;
                }
            }
            Repr::Cancelled => return,
            Repr::StreamBroken(reason) if inner.era() == Era::Modern => {
                let reason = reason.clone();
                // Not re-issued (or re-issued to no avail): the server may have run it.
                let method = msg.method().unwrap_or_default().to_owned();
                inner.fail_message(&msg, Repr::OutcomeUnknown { method, reason }.into());
                return;
            }
            _ => {
                inner.fail_message(&msg, err);
                return;
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
