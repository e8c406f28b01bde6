//! The macros as a user of the `mcp` crate meets them: passing cases compile (and run) with nothing but
//! `mcp` paths (plus serde and schemars for the derives), failing cases fail with the errors checked in
//! beside them (`ui/fail/*.stderr`).
//!
//! After an intended change to a message: `TRYBUILD=overwrite cargo test --release -p mcp-rs --test macros_ui`,
//! then read the new `.stderr` files before committing them.
//!
//! The `.stderr` files hold rustc's rendering of the errors, which changes between compiler releases (spans,
//! notes, `help:` lines). They were generated with rustc 1.95.0, the stable CI installs with rustup; when a
//! new stable changes the rendering, regenerate them as above and review the diff. Set `MCP_SKIP_UI=1` to
//! skip the failing cases on another toolchain (the passing cases still run).
#![cfg(feature = "macros")]

#[test]
fn macros_compile_through_the_facade_and_fail_readably() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    if std::env::var_os("MCP_SKIP_UI").is_none() {
        t.compile_fail("tests/ui/fail/*.rs");
    }
}
