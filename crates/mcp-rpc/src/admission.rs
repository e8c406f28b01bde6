use std::sync::Arc;

use mcp_protocol::{error_code, ErrorObject};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A cap on requests handled at once. Past the cap a request is refused at once with a clear error rather
/// than queued without bound.
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Arc<Semaphore>,
    limit: usize,
}

/// Held while a request runs; dropping it frees the slot.
#[derive(Debug)]
pub struct AdmissionPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// Allow at most `limit` concurrent requests.
    pub fn new(limit: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.limit.saturating_sub(self.slots.available_permits())
    }

    /// Take a slot, or the error to answer with.
    pub fn try_admit(&self) -> Result<AdmissionPermit, ErrorObject> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(AdmissionPermit)
            .map_err(|_| {
                ErrorObject::new(
                    error_code::OVERLOADED,
                    format!(
                        "Server overloaded: more than {} requests in flight",
                        self.limit
                    ),
                )
            })
    }
}
