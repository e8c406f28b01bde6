//! What the application supplies to answer the server: elicitation, sampling, roots.
//!
//! One handler serves both eras: a legacy server's real request (`elicitation/create`, …) and a modern
//! server's `inputRequests` in an `input_required` result go to the same function. Closures implement the
//! traits:
//!
//! ```
//! use mcp_client::Client;
//! use mcp_protocol::types::{ElicitRequestParams, ElicitResult, ListRootsResult, Root};
//! use mcp_protocol::ErrorObject;
//!
//! let builder = Client::builder()
//!     .elicitation_handler(|_req: ElicitRequestParams| async move {
//!         // Ask the user; here, accept with nothing filled in (the schema's defaults are applied).
//!         Ok::<_, ErrorObject>(ElicitResult::accept(Default::default()))
//!     })
//!     .roots_handler(|| async move {
//!         Ok::<_, ErrorObject>(ListRootsResult {
//!             roots: vec![Root { uri: "file:///work".into(), name: None, meta: None }],
//!             meta: None,
//!         })
//!     });
//! # let _ = builder;
//! ```

use std::future::Future;

use futures::future::BoxFuture;
use mcp_protocol::types::{
    CreateMessageParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ListRootsResult,
};
use mcp_protocol::ErrorObject;

/// Answers elicitation: asks the user and returns their answer.
pub trait ElicitationHandler: Send + Sync + 'static {
    /// Ask the user. Accepting a form with fields left out fills them from the schema's defaults.
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> BoxFuture<'static, Result<ElicitResult, ErrorObject>>;
}

impl<F, Fut> ElicitationHandler for F
where
    F: Fn(ElicitRequestParams) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ElicitResult, ErrorObject>> + Send + 'static,
{
    fn elicit(
        &self,
        params: ElicitRequestParams,
    ) -> BoxFuture<'static, Result<ElicitResult, ErrorObject>> {
        Box::pin(self(params))
    }
}

/// Answers sampling: runs the client's model.
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_client::{Client, SamplingHandler};
/// use mcp_protocol::types::{CreateMessageParams, CreateMessageResult};
/// use mcp_protocol::ErrorObject;
///
/// /// Refuses sampling beyond a token budget, without asking the model.
/// struct Budget { max_tokens: u64 }
///
/// impl SamplingHandler for Budget {
///     fn create_message(&self, params: CreateMessageParams)
///         -> BoxFuture<'static, Result<CreateMessageResult, ErrorObject>> {
///         let over = params.max_tokens > self.max_tokens;
///         Box::pin(async move {
///             if over { return Err(ErrorObject::invalid_params("over the sampling budget")); }
///             Err(ErrorObject::internal("call your model here"))
///         })
///     }
/// }
///
/// let builder = Client::builder().sampling_handler(Budget { max_tokens: 1024 });
/// # let _ = builder;
/// ```
pub trait SamplingHandler: Send + Sync + 'static {
    /// Generate a message. The client must respect `max_tokens`.
    fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> BoxFuture<'static, Result<CreateMessageResult, ErrorObject>>;
}

impl<F, Fut> SamplingHandler for F
where
    F: Fn(CreateMessageParams) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CreateMessageResult, ErrorObject>> + Send + 'static,
{
    fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> BoxFuture<'static, Result<CreateMessageResult, ErrorObject>> {
        Box::pin(self(params))
    }
}

/// Answers roots: lists the directories the client exposes.
pub trait RootsHandler: Send + Sync + 'static {
    /// The roots (`file://` URIs).
    fn list_roots(&self) -> BoxFuture<'static, Result<ListRootsResult, ErrorObject>>;
}

impl<F, Fut> RootsHandler for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ListRootsResult, ErrorObject>> + Send + 'static,
{
    fn list_roots(&self) -> BoxFuture<'static, Result<ListRootsResult, ErrorObject>> {
        Box::pin(self())
    }
}
