//! [`OAuthClient`]: the authorization code flow as an [`AuthProvider`].
//!
//! One job per module:
//!
//! - `builder`: [`OAuthClientBuilder`] and [`PreRegistered`] credentials.
//! - `handle`: [`OAuthClient`] and its [`AuthProvider`](super::AuthProvider) implementation.
//! - `inner`: the shared state and its persistence through the token store.
//! - `refusal`: what a 401 or 403 leads to (refresh, step-up, a new flow).
//! - `discovery`: protected-resource and authorization-server discovery for a flow.
//! - `scopes`: scope selection and challenge choice.
//! - `flow`: the whole flow and the authorization-code grant with PKCE.
//! - `registration`: pre-registration, client-id metadata documents, dynamic registration.
//! - `tokens`: the token endpoint, DPoP keys and refresh.

mod builder;
mod discovery;
mod flow;
mod handle;
mod inner;
mod refusal;
mod registration;
mod scopes;
mod tokens;

pub use builder::{OAuthClientBuilder, PreRegistered};
pub use handle::OAuthClient;

#[cfg(test)]
mod tests;
