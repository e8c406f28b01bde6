//! Falling back to the 2024-11-05 HTTP+SSE transport when `initialize` is refused as an old server would.

use super::inner::Inner;
use crate::error::Error;
use crate::transport::legacy_sse::{sse_sibling, LegacySseTransport, SseLimits};
use crate::transport::Transport;

impl Inner {
    /// `initialize` was refused as a 2024-11-05 server would: open its HTTP+SSE stream.
    pub(super) async fn fall_back_to_sse(&self) -> Result<&LegacySseTransport, Error> {
        let _guard = self.fallback_lock.lock().await;
        if let Some(fb) = self.fallback.get() {
            return Ok(fb);
        }
        let mut candidates = vec![self.url.clone()];
        candidates.extend(sse_sibling(&self.url));
        let fb = LegacySseTransport::open(
            self.http.clone(),
            self.headers.clone(),
            self.auth.clone(),
            &candidates,
            SseLimits {
                line: self.opts.max_sse_line,
                event: self.opts.max_message_size,
            },
        )
        .await?;
        let events = self.events.get().cloned().ok_or(Error::closed())?;
        fb.start(events).await?;
        tracing::info!(
            endpoint = fb.endpoint(),
            "falling back to the 2024-11-05 HTTP+SSE transport"
        );
        Ok(self.fallback.get_or_init(|| fb))
    }
}
