//! Reading a reply stream (SSE), delivering its messages, and resuming a broken legacy stream with
//! `Last-Event-ID`.

use futures::StreamExt;
use mcp_protocol::{meta, Message, RequestId};
use reqwest::StatusCode;

use super::inner::{is_sse, Inner, StreamEnd};
use crate::error::Error;
use crate::sse::SseParser;

impl Inner {
    /// Deliver a message from a reply stream, mapping a re-issued id back. Returns whether it is the reply.
    pub(super) async fn deliver(
        &self,
        mut msg: Message,
        reply_to: Option<(&RequestId, &RequestId)>,
    ) -> bool {
        let mut ours = false;
        if let Some((wire, orig)) = reply_to {
            match &mut msg {
                Message::Response(r) if &r.id == wire => {
                    r.id = orig.clone();
                    ours = true;
                }
                Message::Error(e) if e.id.is_none() || e.id.as_ref() == Some(wire) => {
                    e.id = Some(orig.clone());
                    ours = true;
                }
                Message::Notification(n) if wire != orig => {
                    // A re-issued listen: its notifications name the new id as their subscription.
                    let wire_v = serde_json::to_value(wire).unwrap_or_default();
                    if let Some(sub) = n
                        .params
                        .as_mut()
                        .and_then(|p| p.get_mut("_meta"))
                        .and_then(|m| m.get_mut(meta::SUBSCRIPTION_ID))
                    {
                        if *sub == wire_v {
                            *sub = serde_json::to_value(orig).unwrap_or_default();
                        }
                    }
                }
                _ => {}
            }
        }
        self.emit(msg).await;
        ours
    }

    /// Read an SSE stream, delivering every message, until the reply (if `reply_to`) or the end.
    pub(super) async fn read_sse(
        &self,
        resp: reqwest::Response,
        parser: &mut SseParser,
        reply_to: Option<(&RequestId, &RequestId)>,
    ) -> StreamEnd {
        parser.set_limits(self.opts.max_sse_line, self.opts.max_message_size);
        let mut stream = resp.bytes_stream();
        let mut end = StreamEnd {
            replied: false,
            messages: 0,
            broken: None,
        };
        loop {
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = self.closed.cancelled() => {
                    end.broken = Some("transport closed".into());
                    return end;
                }
            };
            match chunk {
                Some(Ok(bytes)) => {
                    for ev in parser.feed(&bytes) {
                        if ev.data.trim().is_empty() {
                            continue;
                        }
                        if ev.event.as_deref().is_some_and(|e| e != "message") {
                            tracing::debug!(event = ?ev.event, "ignoring SSE event of another type");
                            continue;
                        }
                        let msg = match crate::transport::parse_message(ev.data.as_bytes()) {
                            Ok(m) => m,
                            Err(e) => {
                                tracing::warn!(error = %e, "ignoring an SSE event that is not a JSON-RPC message");
                                continue;
                            }
                        };
                        end.messages += 1;
                        if self.deliver(msg, reply_to).await {
                            end.replied = true;
                            return end;
                        }
                    }
                    if let Some(e) = parser.error() {
                        end.broken = Some(e.to_string());
                        return end;
                    }
                }
                Some(Err(e)) => {
                    end.broken = Some(e.to_string());
                    return end;
                }
                None => {
                    end.broken = Some("stream ended before the reply".into());
                    return end;
                }
            }
        }
    }

    /// Legacy: resume a broken reply stream with GET + `Last-Event-ID` until the reply arrives.
    pub(super) async fn resume(
        &self,
        mut parser: SseParser,
        sid: Option<String>,
        wire: &RequestId,
        orig: &RequestId,
    ) -> Result<(), Error> {
        let mut attempts = 0u32;
        loop {
            let Some(last) = parser.last_event_id().map(str::to_owned) else {
                return Err(Error::stream_broken(
                    "the stream broke before any event id; it cannot be resumed".into(),
                ));
            };
            if attempts >= self.opts.max_reconnects {
                return Err(Error::stream_broken(format!(
                    "gave up resuming after {attempts} attempts"
                )));
            }
            let delay = parser.retry().unwrap_or_else(|| self.backoff(attempts));
            attempts += 1;
            if self.closed_during(delay).await {
                return Err(Error::closed());
            }
            tracing::debug!(last_event_id = %last, ?delay, "resuming the reply stream");
            let resp = match self.get(sid.as_deref(), Some(&last)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "resumption GET failed");
                    continue;
                }
            };
            let status = resp.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED {
                // Not session expiry: the server cannot resume this stream.
                return Err(Error::http(
                    status.as_u16(),
                    "the server cannot resume the reply stream".into(),
                ));
            }
            if !status.is_success() || !is_sse(&resp) {
                continue;
            }
            let mut next = SseParser::resuming(Some(last), parser.retry());
            let end = self.read_sse(resp, &mut next, Some((wire, orig))).await;
            parser = next;
            if end.replied {
                return Ok(());
            }
            if let Some(e) = parser.error() {
                return Err(Error::transport_protocol(e.to_string()));
            }
            if end.messages > 0 {
                attempts = 0;
            }
        }
    }
}
