#!/usr/bin/env python3
"""Peer client built on the Python SDK v2 (`mcp` 2.x on PyPI).

    python py_client.py (--stdio "<cmd> <args...>" | --url URL) [--era legacy|modern|auto]
                        [--profile conformance|peer|everything] [--timeout-ms N]

Era selection is the `mode=` field of `mcp.Client`:
    legacy -> mode="legacy"      (initialize handshake, byte-identical pre-2026 behaviour)
    modern -> mode="2026-07-28"  (adopt the modern version directly, no probe)
    auto   -> mode="auto"        (the SDK default: probe server/discover, fall back to initialize)
On the modern era `input_required` results are fulfilled by the same elicitation/sampling
callbacks that answer legacy server->client requests.

Prints one JSON line per step ({"step","ok","detail"}) and a final {"summary":{...}}.
Run it with the venv python from .ci/install-peers.sh ($PEERS_PYTHON).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters, types

MODERN = "2026-07-28"
SAMPLING_TEXT = "This is a test response from the client"
HERE = Path(__file__).resolve().parent


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def elicit_content(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Content satisfying an elicitation's requestedSchema (same rules as peers/lib/common.mjs)."""
    out: dict[str, Any] = {}
    for key, p in ((schema or {}).get("properties") or {}).items():
        t = p.get("type")
        if key == "username":
            out[key] = "testuser"
        elif key == "email" or p.get("format") == "email":
            out[key] = "test@example.com"
        elif key == "name" and t == "string":
            out[key] = "Alice"
        elif "default" in p:
            out[key] = p["default"]
        elif t == "boolean":
            out[key] = True
        elif t in ("number", "integer"):
            out[key] = p.get("minimum", 1)
        elif t == "array":
            it = p.get("items") or {}
            first = (it.get("enum") or [None])[0]
            if first is None:
                alts = it.get("anyOf") or it.get("oneOf") or []
                first = alts[0].get("const") if alts else None
            out[key] = [] if first is None else [first]
        elif p.get("enum"):
            out[key] = p["enum"][0]
        elif p.get("oneOf") and "const" in p["oneOf"][0]:
            out[key] = p["oneOf"][0]["const"]
        elif p.get("format") == "date":
            out[key] = "2024-01-01"
        elif p.get("format") == "date-time":
            out[key] = "2024-01-01T00:00:00Z"
        elif p.get("format") == "uri":
            out[key] = "https://example.com"
        else:
            out[key] = "Alice"
    return out


async def on_elicit(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    schema = getattr(params, "requested_schema", None)
    if hasattr(schema, "model_dump"):
        schema = schema.model_dump(by_alias=True, exclude_none=True)
    return types.ElicitResult(action="accept", content=elicit_content(schema))


async def on_sample(_ctx: Any, _params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=SAMPLING_TEXT),
        model="test-model",
        stop_reason="endTurn",
    )


def text_of(result: Any) -> str:
    d = result.model_dump(by_alias=True, exclude_none=True) if hasattr(result, "model_dump") else result
    parts: list[str] = []

    def block(c: Any) -> None:
        if not isinstance(c, dict):
            return
        if isinstance(c.get("text"), str):
            parts.append(c["text"])
        res = c.get("resource")
        if isinstance(res, dict) and isinstance(res.get("text"), str):
            parts.append(res["text"])

    for c in d.get("content") or []:
        block(c)
    for c in d.get("contents") or []:
        block(c)
    for m in d.get("messages") or []:
        mc = m.get("content")
        for c in mc if isinstance(mc, list) else [mc]:
            block(c)
    if not parts and d.get("structuredContent") is not None:
        parts.append(json.dumps(d["structuredContent"]))
    return "\n".join(parts)


def clip(s: str, n: int = 300) -> str:
    return s if len(s) <= n else s[:n] + "…"


class Tally:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0


async def record(tally: Tally, step: str, timeout_s: float, fn: Any) -> bool:
    try:
        with anyio.fail_after(timeout_s):
            detail = await fn()
        tally.passed += 1
        emit({"step": step, "ok": True, "detail": detail})
        return True
    except Exception as e:  # noqa: BLE001 - any failure is a failed step
        msg = describe(e)
        if isinstance(e, TimeoutError):
            msg = f"{step}: timed out after {timeout_s:g} s"
        tally.failed += 1
        emit({"step": step, "ok": False, "detail": {"error": msg}})
        return False


def describe(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup) and e.exceptions:
        return "; ".join(describe(x) for x in e.exceptions)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def check(step: dict[str, Any], text: str) -> None:
    want = step.get("expect")
    if want and want not in text:
        raise AssertionError(f"expected text containing {want!r}, got {clip(text)!r}")


async def run_step(client: Client, s: dict[str, Any]) -> dict[str, Any]:
    kind = s["kind"]
    if kind == "list_tools":
        r = await client.list_tools()
        names = [t.name for t in r.tools]
        missing = [n for n in s.get("expectTools", []) if n not in names]
        if missing:
            raise AssertionError(f"tools missing from tools/list: {', '.join(missing)}")
        return {"count": len(names), "names": names[:40]}
    if kind == "call_tool":
        r = await client.call_tool(s["name"], s.get("args"))
        text = text_of(r)
        if r.is_error:
            raise AssertionError(f"tool {s['name']} returned isError: {clip(text)}")
        check(s, text)
        return {"name": s["name"], "text": clip(text)}
    if kind == "read_resource":
        uri = s["uri"]
        if uri == "*first*":
            lr = await client.list_resources()
            if not lr.resources:
                raise AssertionError("resources/list is empty")
            uri = str(lr.resources[0].uri)
        r = await client.read_resource(uri)
        if not r.contents:
            raise AssertionError(f"no contents for {uri}")
        text = text_of(r)
        check(s, text)
        return {"uri": uri, "text": clip(text)}
    if kind == "get_prompt":
        r = await client.get_prompt(s["name"], s.get("args") or {})
        if not r.messages:
            raise AssertionError(f"no messages from prompt {s['name']}")
        text = text_of(r)
        check(s, text)
        return {"name": s["name"], "text": clip(text)}
    raise ValueError(f"unknown step kind {kind}")


async def main(opts: argparse.Namespace, steps: list[dict[str, Any]]) -> Tally:
    tally = Tally()
    timeout_s = opts.timeout_ms / 1000
    if opts.stdio:
        argv = shlex.split(opts.stdio)
        target: Any = StdioServerParameters(command=argv[0], args=argv[1:])
    else:
        target = opts.url
    mode = {"legacy": "legacy", "modern": MODERN, "auto": "auto"}[opts.era]
    client = Client(
        target,
        mode=mode,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
        client_info=types.Implementation(name="peer-py-client", version="1.0.0"),
        read_timeout_seconds=timeout_s,
    )
    connected = False
    try:
        # Entering the client runs the handshake (legacy initialize / modern adopt or probe);
        # its requests are bounded by read_timeout_seconds.
        async with client:
            connected = True
            pv = client.protocol_version
            era = "modern" if pv == MODERN else "legacy"
            info = client.server_info
            tally.passed += 1
            emit(
                {
                    "step": "connect",
                    "ok": True,
                    "detail": {
                        "era": era,
                        "protocolVersion": pv,
                        "server": info.model_dump(exclude_none=True) if info else None,
                        "transport": "stdio" if opts.stdio else "http",
                    },
                }
            )
            for s in steps:
                if s.get("eras") and era not in s["eras"]:
                    continue
                await record(tally, s["step"], timeout_s, lambda s=s: run_step(client, s))
    except Exception as e:  # noqa: BLE001 - report, don't crash
        tally.failed += 1
        emit({"step": "close" if connected else "connect", "ok": False, "detail": {"error": describe(e)}})
    return tally


def parse() -> tuple[argparse.Namespace, list[dict[str, Any]]]:
    ap = argparse.ArgumentParser(description="MCP peer client (Python SDK 2.x)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--stdio", help='server command line, e.g. "node server.mjs --stdio"')
    g.add_argument("--url", help="Streamable HTTP endpoint")
    ap.add_argument("--era", choices=["legacy", "modern", "auto"], default="legacy")
    ap.add_argument("--profile", default="conformance")
    ap.add_argument("--timeout-ms", type=int, default=30000)
    opts = ap.parse_args()
    profiles = json.loads((HERE / "profiles.json").read_text())
    if not isinstance(profiles.get(opts.profile), list):
        ap.error(f"unknown profile {opts.profile}")
    return opts, profiles[opts.profile]


if __name__ == "__main__":
    o, st = parse()
    t = anyio.run(main, o, st)
    emit({"summary": {"passed": t.passed, "failed": t.failed}})
    if t.failed:
        sys.stderr.write(f"{t.failed} step(s) failed\n")
    sys.exit(1 if t.failed else 0)
