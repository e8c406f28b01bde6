#!/usr/bin/env bash
# The README's MSRV claim, checked as far as one toolchain can: every workspace crate declares the
# workspace's `rust-version`, and no locked dependency declares a newer one (a `cargo update` that raised
# the real minimum would otherwise go unnoticed). Clippy's `incompatible_msrv` lint, on by default and
# denied in the clippy stage, reads the same `rust-version` and rejects std APIs stabilized after it.
# Language features newer than the MSRV are not checked: only one toolchain can be installed here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

meta="$(mktemp)"
trap 'rm -f "$meta"' EXIT
cargo metadata --format-version 1 --locked >"$meta"
python3 - "$meta" <<'PY'
import json, re, sys

meta = json.load(open(sys.argv[1]))
workspace = set(meta["workspace_members"])
msrv = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', open("Cargo.toml").read(), re.M).group(1)


def key(version):
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


bad = []
newest = ("0", "nothing")
for p in meta["packages"]:
    rv, name = p.get("rust_version"), p["name"]
    if p["id"] in workspace:
        if rv is None or key(rv) != key(msrv):
            bad.append(f"workspace crate {name} declares rust-version {rv}, not the workspace's {msrv}")
    elif rv:
        if key(rv) > key(newest[0]):
            newest = (rv, f"{name} {p['version']}")
        if key(rv) > key(msrv):
            bad.append(f"dependency {name} {p['version']} needs Rust {rv}, newer than the MSRV {msrv}")
for line in bad:
    print(line)
print(f"msrv: {'FAILED' if bad else 'ok'}; MSRV {msrv}, newest dependency minimum {newest[0]} ({newest[1]})")
sys.exit(1 if bad else 0)
PY
