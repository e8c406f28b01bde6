//! Request, result and notification payloads for every revision.
//!
//! Each struct carries the union of the fields of every revision; fields added later are optional, so one type
//! reads and writes every era. `_meta` is kept as an open object everywhere it may appear.

/// Chainable setters for optional fields: `with_x(value)` stores `Some(value.into())`, so a value is built from
/// its constructor and the fields it needs, never from `..Default::default()` or `meta: None`.
macro_rules! with_setters {
    ($ty:ty { $( $(#[$doc:meta])* $method:ident => $field:ident : $t:ty ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $method(mut self, $field: impl Into<$t>) -> Self {
                    self.$field = Some($field.into());
                    self
                }
            )*
        }
    };
}

mod apps;
mod capabilities;
mod common;
mod completion;
mod content;
mod elicitation;
mod errors;
mod form_schema;
mod lifecycle;
mod logging;
pub mod methods;
mod mrtr;
mod notifications;
mod prompts;
mod resources;
mod roots;
mod sampling;
mod skills;
mod tasks;
mod tools;

pub use apps::*;
pub use capabilities::*;
pub use common::*;
pub use completion::*;
pub use content::*;
pub use elicitation::*;
pub use errors::*;
pub use form_schema::*;
pub use lifecycle::*;
pub use logging::*;
pub use mrtr::*;
pub use notifications::*;
pub use prompts::*;
pub use resources::*;
pub use roots::*;
pub use sampling::*;
pub use skills::*;
pub use tasks::*;
pub use tools::*;
