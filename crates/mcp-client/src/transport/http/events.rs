//! The standalone GET event stream of a legacy session.

use std::sync::Arc;

use reqwest::StatusCode;

use super::inner::{is_sse, Inner, ReadyOnExit, SessionState};
use crate::sse::SseParser;

impl Inner {
    /// The standalone GET stream of a legacy session: reconnects with `Last-Event-ID`, stops on 404/405.
    pub(super) async fn get_loop(self: Arc<Self>) {
        let _ready = ReadyOnExit(&self.get_ready);
        let mut parser = SseParser::new();
        let mut failures = 0u32;
        loop {
            let sid = match self.session.borrow().state.clone() {
                SessionState::Active(id) => Some(id),
                SessionState::None => None,
                _ => return,
            };
            let resp = tokio::select! {
                r = self.get(sid.as_deref(), parser.last_event_id()) => r,
                _ = self.closed.cancelled() => return,
            };
            // The server has answered the GET (a stream, or a refusal): requests need not wait any longer.
            self.get_ready.send_replace(true);
            match resp {
                Ok(r)
                    if r.status() == StatusCode::NOT_FOUND
                        || r.status() == StatusCode::METHOD_NOT_ALLOWED =>
                {
                    // The server offers no event stream (a 404 here is not session expiry).
                    tracing::debug!(status = %r.status(), "no GET event stream");
                    return;
                }
                Ok(r) if r.status().is_success() && is_sse(&r) => {
                    let mut next = SseParser::resuming(
                        parser.last_event_id().map(str::to_owned),
                        parser.retry(),
                    );
                    let end = self.read_sse(r, &mut next, None).await;
                    if next.error().is_some() {
                        // Reconnecting would replay the same oversized event.
                        return;
                    }
                    // Progress (a message, or a new event id as polling servers send) resets the count.
                    let progressed =
                        end.messages > 0 || next.last_event_id() != parser.last_event_id();
                    parser = next;
                    if progressed {
                        failures = 0;
                    } else {
                        failures += 1;
                    }
                }
                Ok(r)
                    if r.status().is_client_error()
                        && r.status() != StatusCode::REQUEST_TIMEOUT
                        && r.status() != StatusCode::TOO_MANY_REQUESTS =>
                {
                    // 400 and the like will not get better by asking again.
                    tracing::debug!(status = %r.status(), "GET event stream refused");
                    return;
                }
                Ok(r) => {
                    tracing::debug!(status = %r.status(), "GET event stream failed");
                    failures += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "GET event stream failed");
                    failures += 1;
                }
            }
            if self.closed.is_cancelled() || failures > self.opts.max_reconnects {
                return;
            }
            let delay = parser.retry().unwrap_or_else(|| self.backoff(failures));
            if self.closed_during(delay).await {
                return;
            }
        }
    }
}
