//! Which scopes to request and which challenge to follow.

use super::inner::{Discovered, Inner};
use crate::auth::challenge::Challenge;

impl Inner {
    pub(super) fn initial_scopes(
        &self,
        d: &Discovered,
        challenge: Option<&Challenge>,
    ) -> Vec<String> {
        let from_challenge = challenge.map(Challenge::scopes).unwrap_or_default();
        if !from_challenge.is_empty() {
            return from_challenge;
        }
        if let Some(s) = &self.scopes {
            return s.clone();
        }
        d.prm
            .as_ref()
            .and_then(|p| p.scopes_supported.clone())
            .unwrap_or_default()
    }
}

/// The Bearer challenge (or any, if none is Bearer).
pub(super) fn pick_challenge(challenges: &[Challenge]) -> Option<Challenge> {
    challenges
        .iter()
        .find(|c| c.is("Bearer"))
        .or_else(|| challenges.first())
        .cloned()
}

pub(super) fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for s in b {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}
