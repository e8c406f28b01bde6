//! One request's POST exchange (with modern re-issue and legacy resumption) and one-way POSTs.

use std::sync::atomic::Ordering;

use mcp_protocol::types::methods;
use mcp_protocol::{Message, Request, RequestId};
use reqwest::StatusCode;
use serde_json::Value;

use super::inner::{is_sse, jsonrpc_error_of, modern_version, truncate, Inner, StreamEnd};
use crate::error::{Error, Repr};
use crate::sse::SseParser;
use crate::transport::SendOptions;

impl Inner {
    /// POST a request once. `Ok` carries how the reply stream ended and the session id used.
    pub(super) async fn post_request(
        &self,
        wire: &Request,
        orig: &RequestId,
        opts: &SendOptions,
        parser: &mut SseParser,
    ) -> Result<(StreamEnd, Option<String>), Error> {
        // A refused message goes back to the client's writer, to be sent again on a new session.
        let unsent = || Message::Request(wire.clone());
        let (sid, generation) = self
            .session_for(Some(&wire.method))
            .await
            .map_err(|e| e.returning(unsent))?;
        let extra = self.protocol_headers(Some(wire), opts);
        let resp = self.post(wire, sid.as_deref(), &extra).await?;
        let status = resp.status();
        if wire.method == methods::INITIALIZE && status.is_success() {
            self.capture_session(&resp);
        }
        if status == StatusCode::NOT_FOUND {
            if let Some(sid) = &sid {
                self.expire(sid);
                return Err(Error::from(Repr::SessionGone {
                    session_id: Some(sid.clone()),
                    generation,
                    unsent: None,
                })
                .returning(unsent));
            }
        }
        let done = |replied| StreamEnd {
            replied,
            messages: 1,
            broken: None,
        };
        if !status.is_success() {
            let body = crate::transport::error_body(resp).await;
            if let Some(e) = jsonrpc_error_of(&body) {
                // E.g. a modern server's 400 with -32022/-32020, or 404 with -32601: the request's answer.
                self.deliver(
                    Message::Error(mcp_protocol::ErrorResponse::new(None, e)),
                    Some((&wire.id, orig)),
                )
                .await;
                return Ok((done(true), sid));
            }
            return Err(Error::http(
                status.as_u16(),
                truncate(&String::from_utf8_lossy(&body)),
            ));
        }
        if status == StatusCode::ACCEPTED {
            return Err(Error::transport_protocol(
                "the server answered a request with 202 Accepted and no reply".into(),
            ));
        }
        if is_sse(&resp) {
            let end = self.read_sse(resp, parser, Some((&wire.id, orig))).await;
            if let Some(e) = parser.error().filter(|_| !end.replied) {
                // The same oversized event would come again: neither resume nor re-issue.
                return Err(Error::transport_protocol(e.to_string()));
            }
            return Ok((end, sid));
        }
        let body = crate::transport::read_capped(resp, self.opts.max_message_size)
            .await
            .map_err(Error::network)?;
        if body.truncated {
            return Err(Error::transport_protocol(format!(
                "the reply is larger than {} bytes (HttpOptions::max_message_size)",
                self.opts.max_message_size
            )));
        }
        let body = body.bytes;
        // One plain message straight from the bytes; a batch, or a reply with something wrong, through a
        // `Value`, which says what.
        let messages = match Message::from_slice_fast(&body) {
            Some(m) => vec![Ok(m)],
            None => {
                let value: Value = serde_json::from_slice(&body).map_err(|e| {
                    Error::transport_protocol(format!(
                        "reply is not JSON ({e}): {}",
                        truncate(&String::from_utf8_lossy(&body))
                    ))
                })?;
                let items = match value {
                    Value::Array(items) => items,
                    v => vec![v],
                };
                items.into_iter().map(Message::from_value).collect()
            }
        };
        let mut replied = false;
        for m in messages {
            match m {
                Ok(m) => replied |= self.deliver(m, Some((&wire.id, orig))).await,
                Err(e) => {
                    tracing::warn!(error = %e.message, "ignoring an invalid message in a reply")
                }
            }
        }
        if !replied {
            return Err(Error::transport_protocol(
                "the JSON reply does not answer the request".into(),
            ));
        }
        Ok((done(true), sid))
    }

    pub(super) async fn exchange(&self, req: Request, opts: SendOptions) -> Result<(), Error> {
        let modern = modern_version(&req).is_some();
        let orig = req.id.clone();
        let mut wire = req;
        let mut reissues = 0;
        let mut unreachable = 0u32;
        loop {
            let mut parser = SseParser::new();
            let (end, sid) = match self.post_request(&wire, &orig, &opts, &mut parser).await {
                Ok(x) => x,
                // A stream usually breaks because the server went away (a restart, a deploy): the re-issue
                // then meets a closed port for a moment. Wait and try again, as a resumption GET would,
                // rather than fail a request the restarted server has not seen.
                Err(e)
                    if matches!(e.repr(), Repr::Network(_))
                        && reissues > 0
                        && unreachable < self.opts.max_reconnects =>
                {
                    let delay = self.backoff(unreachable);
                    unreachable += 1;
                    tracing::debug!(error = %e, ?delay, "the re-issued request did not reach the server; retrying");
                    if self.closed_during(delay).await {
                        return Err(Error::closed());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if end.replied {
                return Ok(());
            }
            let reason = end.broken.unwrap_or_default();
            if modern {
                // No resumption on this era, and the server may have run the request: repeat it only when
                // the client said that is harmless.
                if !opts.reissue {
                    tracing::debug!(%reason, method = %wire.method, "reply stream broke; not re-issuing");
                    return Err(Error::stream_broken(reason));
                }
                if reissues >= self.opts.max_reissues {
                    return Err(Error::stream_broken(reason));
                }
                reissues += 1;
                let n = self.reissue_seq.fetch_add(1, Ordering::Relaxed);
                wire.id = RequestId::String(format!("reissue-{n}").into());
                tracing::debug!(%reason, new_id = %wire.id, "reply stream broke; re-issuing the request");
                continue;
            }
            if parser.last_event_id().is_some() {
                return self.resume(parser, sid, &wire.id, &orig).await;
            }
            return Err(Error::stream_broken(reason));
        }
    }

    /// POST a notification or a response; the server accepts it with 202.
    pub(super) async fn post_simple(&self, msg: Message, opts: SendOptions) -> Result<(), Error> {
        let (sid, generation) = self
            .session_for(msg.method())
            .await
            .map_err(|e| e.returning(|| msg.clone()))?;
        let request = match &msg {
            Message::Request(r) => Some(r),
            _ => None,
        };
        let extra = self.protocol_headers(request, &opts);
        let resp = self.post(&msg, sid.as_deref(), &extra).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            if let Some(sid) = sid {
                self.expire(&sid);
                return Err(Repr::SessionGone {
                    session_id: Some(sid),
                    generation,
                    unsent: Some(Box::new(msg)),
                }
                .into());
            }
        }
        if status.is_success() {
            return Ok(());
        }
        let body = crate::transport::error_body(resp).await;
        Err(Error::http(
            status.as_u16(),
            truncate(&String::from_utf8_lossy(&body)),
        ))
    }
}
