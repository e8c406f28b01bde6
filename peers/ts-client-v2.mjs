#!/usr/bin/env node
// Peer client built on the TypeScript SDK v2 (@modelcontextprotocol/client 2.x).
//
//   node ts-client-v2.mjs (--stdio "<cmd> <args...>" | --url URL) [--era legacy|modern|auto]
//                         [--profile conformance|peer|everything] [--timeout-ms N]
//
// Era selection is the v2 `versionNegotiation` client option:
//   legacy -> { mode: 'legacy' }                (plain 2025 initialize handshake; the SDK default)
//   modern -> { mode: { pin: '2026-07-28' } }   (server/discover, stateless per-request _meta)
//   auto   -> { mode: 'auto' }                  (probe server/discover, fall back to initialize)
// On the modern era, elicitation/sampling arrive as `input_required` results and are
// auto-fulfilled through the same setRequestHandler handlers used for legacy push requests.
//
// Prints one JSON line per step ({"step","ok","detail"}) and a final {"summary":{...}}.
import {
  peerRequire, parseClientArgs, runSteps, record, finish, emit, errText,
  elicitContent, samplingResult,
} from './lib/common.mjs';

const MODERN = '2026-07-28';
const opts = parseClientArgs(process.argv.slice(2));
const { Client, StreamableHTTPClientTransport } = peerRequire('@modelcontextprotocol/client');
const { StdioClientTransport } = peerRequire('@modelcontextprotocol/client/stdio');

const mode = { legacy: 'legacy', modern: { pin: MODERN }, auto: 'auto' }[opts.era];
const client = new Client(
  { name: 'peer-ts-client-v2', version: '1.0.0' },
  {
    capabilities: { elicitation: { form: {} }, sampling: {} },
    versionNegotiation: { mode },
  },
);
client.setRequestHandler('elicitation/create', async (req) => ({
  action: 'accept',
  content: elicitContent(req.params.requestedSchema),
}));
client.setRequestHandler('sampling/createMessage', async () => samplingResult());
client.onerror = (e) => process.stderr.write(`client error: ${errText(e)}\n`);

const transport = opts.stdio
  ? new StdioClientTransport({ command: opts.stdio[0], args: opts.stdio.slice(1), stderr: 'inherit' })
  : new StreamableHTTPClientTransport(new URL(opts.url));

const tally = { passed: 0, failed: 0 };
const req = { timeout: opts.timeoutMs };
let era = opts.era;
const connected = await record(tally, 'connect', opts.timeoutMs, async () => {
  await client.connect(transport, req);
  era = client.getProtocolEra?.() ?? (client.getNegotiatedProtocolVersion() === MODERN ? 'modern' : 'legacy');
  return {
    era,
    protocolVersion: client.getNegotiatedProtocolVersion() ?? null,
    server: client.getServerVersion() ?? null,
    transport: opts.stdio ? 'stdio' : 'http',
  };
});

if (connected) {
  await runSteps(
    {
      listTools: () => client.listTools(undefined, req),
      callTool: (name, args) =>
        client.callTool(args === undefined ? { name } : { name, arguments: args }, req),
      listResources: () => client.listResources(undefined, req),
      readResource: (uri) => client.readResource({ uri }, req),
      getPrompt: (name, args) => client.getPrompt({ name, arguments: args }, req),
    },
    opts.steps,
    { era, timeoutMs: opts.timeoutMs, tally },
  );
}
try {
  await client.close();
} catch (e) {
  emit({ step: 'close', ok: false, detail: { error: errText(e) } });
}
finish(tally);
