//! Write every fuzz target's seeds into `<dir>/<target>/` (default `fuzz/corpus`), the starting corpus of
//! `cargo +nightly fuzz run <target>`: `cargo run -p mcp-fuzz --example write_seeds -- fuzz/corpus`.

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let http = mcp_fuzz::http::seeds();
    let types = mcp_fuzz::types::seeds();
    let targets: [(&str, Vec<&[u8]>); 6] = [
        ("jsonrpc_message", mcp_fuzz::jsonrpc::SEEDS.to_vec()),
        ("sse_stream", mcp_fuzz::sse::SEEDS.to_vec()),
        ("stdio_frames", mcp_fuzz::frames::SEEDS.to_vec()),
        ("http_request", http.iter().map(Vec::as_slice).collect()),
        ("auth_challenge", mcp_fuzz::challenge::SEEDS.to_vec()),
        ("types_payload", types.iter().map(Vec::as_slice).collect()),
    ];
    for (target, seeds) in targets {
        let d = dir.join(target);
        std::fs::create_dir_all(&d)?;
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), seed)?;
        }
        println!("{}: {} seeds", d.display(), seeds.len());
    }
    Ok(())
}
