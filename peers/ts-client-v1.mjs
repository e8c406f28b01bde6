#!/usr/bin/env node
// Peer client built on the TypeScript SDK v1 (@modelcontextprotocol/sdk 1.x).
// Legacy era only (v1 has no 2026-07-28 support): initialize handshake, then
// stdio or Streamable HTTP (sessionful, Mcp-Session-Id).
//
//   node ts-client-v1.mjs (--stdio "<cmd> <args...>" | --url URL) [--era legacy]
//                         [--profile conformance|peer|everything] [--timeout-ms N]
//
// Prints one JSON line per step ({"step","ok","detail"}) and a final {"summary":{...}}.
import {
  peerRequire, parseClientArgs, runSteps, record, finish, emit, errText,
  elicitContent, samplingResult,
} from './lib/common.mjs';

const opts = parseClientArgs(process.argv.slice(2), { eras: ['legacy'] });
const { Client } = peerRequire('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = peerRequire('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = peerRequire('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { ElicitRequestSchema, CreateMessageRequestSchema } = peerRequire('@modelcontextprotocol/sdk/types.js');

const client = new Client(
  { name: 'peer-ts-client-v1', version: '1.0.0' },
  { capabilities: { elicitation: {}, sampling: {} } },
);
client.setRequestHandler(ElicitRequestSchema, async (req) => ({
  action: 'accept',
  content: elicitContent(req.params.requestedSchema),
}));
client.setRequestHandler(CreateMessageRequestSchema, async () => samplingResult());
client.onerror = (e) => process.stderr.write(`client error: ${errText(e)}\n`);

const transport = opts.stdio
  ? new StdioClientTransport({ command: opts.stdio[0], args: opts.stdio.slice(1), stderr: 'inherit' })
  : new StreamableHTTPClientTransport(new URL(opts.url));

const tally = { passed: 0, failed: 0 };
const req = { timeout: opts.timeoutMs };
const connected = await record(tally, 'connect', opts.timeoutMs, async () => {
  await client.connect(transport, req);
  return {
    era: 'legacy',
    protocolVersion: transport.protocolVersion ?? client.getNegotiatedProtocolVersion?.() ?? null,
    server: client.getServerVersion() ?? null,
    transport: opts.stdio ? 'stdio' : 'http',
  };
});

if (connected) {
  await runSteps(
    {
      listTools: () => client.listTools(undefined, req),
      callTool: (name, args) =>
        client.callTool(args === undefined ? { name } : { name, arguments: args }, undefined, req),
      listResources: () => client.listResources(undefined, req),
      readResource: (uri) => client.readResource({ uri }, req),
      getPrompt: (name, args) => client.getPrompt({ name, arguments: args }, req),
    },
    opts.steps,
    { era: 'legacy', timeoutMs: opts.timeoutMs, tally },
  );
}
try {
  if (!opts.stdio) await transport.terminateSession?.()?.catch(() => {});
  await client.close();
} catch (e) {
  emit({ step: 'close', ok: false, detail: { error: errText(e) } });
}
finish(tally);
