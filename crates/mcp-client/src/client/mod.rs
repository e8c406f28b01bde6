//! The client: era detection, requests with per-era metadata, the MRTR loop, legacy session recovery,
//! server→client requests, notifications, listen streams and the result cache.
//!
//! One job per module:
//!
//! - `options`: [`VersionMode`], [`ClientOptions`], [`CallOptions`] and the [`ClientEvent`]s a client reports.
//! - `builder`: [`ClientBuilder`]; `connect` spawns the background tasks and negotiates the era.
//! - `handle`: the public [`Client`] handle: accessors, generic requests, close, pagination.
//! - `calls`: typed calls on [`Client`]: tools, resources, prompts, completion, logging.
//! - `listen`: `subscriptions/listen` streams and [`Subscription`].
//! - `inner`: the engine shared by every clone: connection state, per-era request decoration, the request
//!   path and the result cache.
//! - `tasks`: the writer and dispatcher tasks between the engine and the transport.
//! - `negotiate`: `server/discover` probing, the legacy `initialize` handshake, version fallback.
//! - `mrtr`: the modern multi round-trip loop and the handlers' answers to server requests.
//! - `inbound`: routing what the server sends (responses, notifications, requests).
//! - `recovery`: legacy session recovery after a 404.
//! - `tool_tasks`: the tasks extension: [`TaskHandle`] and following a `tools/call` that became a task.
//! - `apps`: the MCP Apps extension: declaring it, and the model's tool list without app-only tools.
//! - `skills`: the skills extension: listing skills and reading their files verified.
//! - `tools`: what the client learns about tools (header mirroring, output-schema validation, reissue).

#[cfg(feature = "apps")]
mod apps;
mod builder;
mod calls;
mod handle;
mod inbound;
mod inner;
mod listen;
mod mrtr;
mod negotiate;
mod options;
mod recovery;
#[cfg(feature = "skills")]
mod skills;
mod tasks;
mod tool_tasks;
mod tools;

pub use builder::ClientBuilder;
pub use handle::Client;
pub use listen::Subscription;
pub use options::{CallOptions, ClientEvent, ClientOptions, VersionMode};
pub use tool_tasks::{TaskHandle, ToolCallStart};
