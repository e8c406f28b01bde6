//! Shared helpers for the tests that read the official schemas and examples in `/work/shared/spec`.

use std::path::{Path, PathBuf};

/// `<manifest>/../../../shared/spec`, or `None` (after printing why) when it is missing and `CI` is unset.
///
/// # Panics
/// When the folder is missing and the `CI` environment variable is set: CI must never skip these tests.
pub fn spec_root(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test}: the spec folder {} is missing and CI is set; CI must not skip the wire-type tests",
            dir.display()
        );
    }
    eprintln!(
        "{test}: SKIPPED: {} not found (it lives beside the workspace; set CI=1 to make this an error)",
        dir.display()
    );
    None
}
