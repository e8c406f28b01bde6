#!/usr/bin/env python3
"""Peer server built on the Python SDK v2 (`mcp` 2.x on PyPI).

    python py_server.py --stdio
    python py_server.py --http PORT [--host 127.0.0.1]
    (add --conformance-fixtures to also expose the fixtures the peer clients' default
    profile uses: test_simple_text, test_elicitation, test_sampling, ...)

Fixtures: tools add{a,b} -> "<a+b>", echo{text} -> text, ask_name -> elicits {name} and
returns "Hello, <name>!"; resource test://hello ("hello world"); prompt greet{name}.

Both eras from one `MCPServer`:
- ask_name uses `Annotated[NameForm, Resolve(user_name)]` where the resolver returns
  `Elicit(...)`: on <= 2025-11-25 the SDK sends a real `elicitation/create` mid-call; on
  2026-07-28 it returns an `InputRequiredResult` and resumes on the client's retry.
- stdio: `MCPServer.run_stdio_async()` (era chosen by the opening message).
- HTTP: `MCPServer.streamable_http_app()` on one endpoint (/mcp): 2026-07-28 requests are
  routed by header to the sessionless modern path, everything else to the sessionful
  legacy session manager (Mcp-Session-Id, GET stream, DELETE, 404 on unknown sessions).
  Served by uvicorn on a pre-bound socket; prints {"listening": URL, "port": N} on stdout
  when ready (PORT 0 picks a free port).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import warnings
from typing import Annotated

import anyio
from mcp import types
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from pydantic import BaseModel, Field

# The legacy-only fixtures use deprecated (2025-era) APIs on purpose.
warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28")


class NameForm(BaseModel):
    name: str = Field(description="Your name")


def user_name() -> Elicit[NameForm]:
    return Elicit("What is your name?", NameForm)


def build(conformance_fixtures: bool) -> MCPServer:
    mcp = MCPServer("peer-py-server", version="1.0.0")

    @mcp.tool(description="Add two numbers")
    def add(a: float, b: float) -> str:
        s = a + b
        return str(int(s)) if s == int(s) else str(s)

    @mcp.tool(description="Echo the text back")
    def echo(text: str) -> str:
        return text

    @mcp.tool(description="Ask the user for their name and greet them")
    async def ask_name(who: Annotated[NameForm, Resolve(user_name)]) -> str:
        return f"Hello, {who.name}!"

    @mcp.resource("test://hello", name="hello", description="A static hello resource", mime_type="text/plain")
    def hello() -> str:
        return "hello world"

    @mcp.prompt(description="Greet someone by name")
    def greet(name: str) -> str:
        return f"Please greet {name}."

    if conformance_fixtures:
        add_conformance_fixtures(mcp)
    return mcp


class UserInfo(BaseModel):
    username: str
    email: str


def add_conformance_fixtures(mcp: MCPServer) -> None:
    """A subset of the conformance-server fixtures, enough for the peer clients' default profile."""

    @mcp.tool(description="Simple text")
    def test_simple_text() -> str:
        return "This is a simple text response for testing."

    @mcp.tool(description="Legacy elicitation")
    async def test_elicitation(message: str, ctx: Context) -> str:
        r = await ctx.elicit(message, UserInfo)
        data = r.data.model_dump() if getattr(r, "data", None) is not None else None
        return "User response: " + json.dumps({"action": r.action, "content": data})

    @mcp.tool(description="Legacy sampling")
    async def test_sampling(prompt: str, ctx: Context) -> str:
        r = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
            max_tokens=100,
        )
        return f"LLM response: {getattr(r.content, 'text', r.content)}"

    @mcp.tool(description="MRTR elicitation (key user_name)")
    async def test_input_required_result_elicitation(ctx: Context) -> str | types.InputRequiredResult:
        got = (ctx.input_responses or {}).get("user_name")
        content = getattr(got, "content", None) if got is not None else None
        if isinstance(got, dict):
            content = got.get("content")
        if content:
            return f"Hello, {content.get('name')}!"
        return types.InputRequiredResult(
            input_requests={
                "user_name": types.ElicitRequest(
                    params=types.ElicitRequestFormParams(
                        message="What is your name?",
                        requested_schema={
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "required": ["name"],
                        },
                    )
                )
            }
        )

    @mcp.tool(description="MRTR sampling")
    async def test_input_required_result_sampling(ctx: Context) -> str | types.InputRequiredResult:
        got = (ctx.input_responses or {}).get("sample")
        if got is not None:
            d = got if isinstance(got, dict) else got.model_dump(by_alias=True, exclude_none=True)
            return f"LLM response: {(d.get('content') or {}).get('text', '')}"
        return types.InputRequiredResult(
            input_requests={
                "sample": types.CreateMessageRequest(
                    params=types.CreateMessageRequestParams(
                        messages=[
                            types.SamplingMessage(
                                role="user",
                                content=types.TextContent(type="text", text="What is the capital of France?"),
                            )
                        ],
                        max_tokens=100,
                    )
                )
            }
        )

    @mcp.resource("test://static-text", name="static-text", description="Static text", mime_type="text/plain")
    def static_text() -> str:
        return "This is the content of the static text resource."

    @mcp.prompt(description="Prompt with args")
    def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
        return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


async def serve_http(mcp: MCPServer, host: str, port: int) -> None:
    import uvicorn

    app = mcp.streamable_http_app(host=host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    actual = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    h = f"[{host}]" if ":" in host else host

    async def announce() -> None:
        while not server.started:
            await anyio.sleep(0.02)
        sys.stdout.write(json.dumps({"listening": f"http://{h}:{actual}/mcp", "port": actual}) + "\n")
        sys.stdout.flush()

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()


def main() -> None:
    ap = argparse.ArgumentParser(description="MCP peer server (Python SDK 2.x)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--stdio", action="store_true")
    g.add_argument("--http", type=int, metavar="PORT")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--conformance-fixtures", action="store_true")
    o = ap.parse_args()
    mcp = build(o.conformance_fixtures)
    if o.stdio:
        anyio.run(mcp.run_stdio_async)
    else:
        try:
            anyio.run(serve_http, mcp, o.host, o.http)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
