#!/usr/bin/env node
// Peer server built on the TypeScript SDK v2 (@modelcontextprotocol/server 2.x).
//
//   node ts-server-v2.mjs --stdio
//   node ts-server-v2.mjs --http PORT [--host 127.0.0.1] [--legacy stateful|stateless]
//   add --conformance-fixtures to also expose the conformance fixtures the peer
//   clients' default profile uses (test_simple_text, test_elicitation, ...).
//
// Fixtures: tools add{a,b} -> "<a+b>", echo{text} -> text, ask_name -> elicits {name}
// and returns "Hello, <name>!"; resource test://hello ("hello world"); prompt greet{name}.
//
// Both eras are served from one factory:
// - stdio: serveStdio(factory) picks the era from the connection's opening message
//   (initialize -> legacy, server/discover or a _meta envelope -> 2026-07-28).
// - HTTP (one endpoint, /mcp): isLegacyRequest(request) routes 2025-era traffic to a
//   sessionful WebStandardStreamableHTTPServerTransport per session (default,
//   `--legacy stateful`: Mcp-Session-Id, GET stream, DELETE, 404 for unknown sessions,
//   and working mid-call elicitation), and everything else to
//   createMcpHandler(factory, {legacy: 'reject'}). `--legacy stateless` instead uses
//   createMcpHandler's built-in stateless legacy fallback (GET/DELETE -> 405; no
//   server->client requests across POSTs, so legacy ask_name cannot complete there).
// ask_name: legacy -> ctx.mcpReq.elicitInput(...) (a real elicitation/create request);
// modern -> return inputRequired({inputRequests: {user_name: inputRequired.elicit(...)}})
// and read the answer with acceptedContent(ctx.mcpReq.inputResponses, 'user_name').
//
// In HTTP mode, prints {"listening":"http://HOST:PORT/mcp","port":PORT} on stdout once
// ready (PORT 0 picks a free port).
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { peerRequire, die } from './lib/common.mjs';

const S = peerRequire('@modelcontextprotocol/server');
const { serveStdio } = peerRequire('@modelcontextprotocol/server/stdio');
const { z } = peerRequire('zod');

const USAGE = 'usage: ts-server-v2.mjs (--stdio | --http PORT [--host H] [--legacy stateful|stateless]) [--conformance-fixtures]';
const o = { host: '127.0.0.1', legacy: 'stateful', fixtures: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--stdio') o.stdio = true;
  else if (a === '--http') o.port = Number(argv[++i]);
  else if (a === '--host') o.host = argv[++i];
  else if (a === '--legacy') o.legacy = argv[++i];
  else if (a === '--conformance-fixtures') o.fixtures = true;
  else die(`unknown argument ${a}\n${USAGE}`);
}
if (!o.stdio === (o.port === undefined) || (o.port !== undefined && !Number.isInteger(o.port))) die(USAGE);
if (!['stateful', 'stateless'].includes(o.legacy)) die(USAGE);

const text = (t) => ({ content: [{ type: 'text', text: t }] });
const NAME_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', description: 'Your name' } },
  required: ['name'],
};

/** Elicit `schema` under `key`, era-appropriately. Returns the accepted content, or an inputRequired result. */
async function elicit(ctx, era, key, message, schema) {
  if (era === 'modern') {
    const got = S.acceptedContent(ctx.mcpReq.inputResponses, key);
    if (got) return { content: got };
    return { pending: S.inputRequired({ inputRequests: { [key]: S.inputRequired.elicit({ message, requestedSchema: schema }) } }) };
  }
  const r = await ctx.mcpReq.elicitInput({ mode: 'form', message, requestedSchema: schema });
  if (r.action !== 'accept') return { declined: r.action };
  return { content: r.content ?? {} };
}

function factory(ctx = {}) {
  const era = ctx.era ?? 'legacy';
  const server = new S.McpServer(
    { name: 'peer-ts-server-v2', version: '1.0.0' },
    { capabilities: { tools: {}, resources: {}, prompts: {} } },
  );
  server.registerTool(
    'add',
    { description: 'Add two numbers', inputSchema: z.object({ a: z.number(), b: z.number() }) },
    async ({ a, b }) => text(String(a + b)),
  );
  server.registerTool(
    'echo',
    { description: 'Echo the text back', inputSchema: z.object({ text: z.string() }) },
    async (args) => text(args.text),
  );
  server.registerTool(
    'ask_name',
    { description: 'Ask the user for their name and greet them', inputSchema: z.object({}) },
    async (_args, c) => {
      const r = await elicit(c, era, 'user_name', 'What is your name?', NAME_SCHEMA);
      if (r.pending) return r.pending;
      if (r.declined) return text(`No name given (${r.declined}).`);
      return text(`Hello, ${r.content.name}!`);
    },
  );
  server.registerResource(
    'hello',
    'test://hello',
    { description: 'A static hello resource', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'hello world' }] }),
  );
  server.registerPrompt(
    'greet',
    { description: 'Greet someone by name', argsSchema: z.object({ name: z.string() }) },
    ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Please greet ${name}.` } }] }),
  );
  if (o.fixtures) addConformanceFixtures(server, era);
  return server;
}

/** A subset of the conformance-server fixtures, enough for the peer clients' default profile. */
function addConformanceFixtures(server, era) {
  server.registerTool('test_simple_text', { description: 'Simple text' }, async () =>
    text('This is a simple text response for testing.'),
  );
  server.registerTool(
    'test_elicitation',
    { description: 'Legacy elicitation', inputSchema: z.object({ message: z.string() }) },
    async ({ message }, c) => {
      const schema = {
        type: 'object',
        properties: { username: { type: 'string' }, email: { type: 'string' } },
        required: ['username', 'email'],
      };
      const r = await c.mcpReq.elicitInput({ mode: 'form', message, requestedSchema: schema });
      return text(`User response: ${JSON.stringify(r)}`);
    },
  );
  server.registerTool(
    'test_sampling',
    { description: 'Legacy sampling', inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, c) => {
      const r = await c.mcpReq.requestSampling({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      return text(`LLM response: ${r.content?.text ?? JSON.stringify(r.content)}`);
    },
  );
  server.registerTool(
    'test_input_required_result_elicitation',
    { description: 'MRTR elicitation', inputSchema: z.object({}) },
    async (_a, c) => {
      const r = await elicit(c, era, 'user_name', 'What is your name?', NAME_SCHEMA);
      return r.pending ?? text(r.declined ? `declined` : `Hello, ${r.content.name}!`);
    },
  );
  server.registerTool(
    'test_input_required_result_sampling',
    { description: 'MRTR sampling', inputSchema: z.object({}) },
    async (_a, c) => {
      const params = {
        messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
        maxTokens: 100,
      };
      const got = S.inputResponse(c.mcpReq.inputResponses, 'sample');
      if (got.kind === 'sampling') return text(`LLM response: ${got.result.content?.text ?? ''}`);
      return S.inputRequired({ inputRequests: { sample: S.inputRequired.createMessage(params) } });
    },
  );
  server.registerResource(
    'static-text',
    'test://static-text',
    { description: 'Static text', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_arguments',
    { description: 'Prompt with args', argsSchema: z.object({ arg1: z.string(), arg2: z.string() }) },
    ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
    }),
  );
}

const onerror = (e) => process.stderr.write(`ts-server-v2: ${e?.stack ?? e}\n`);

if (o.stdio) {
  serveStdio(factory, { onerror });
} else {
  const { toNodeHandler } = peerRequire('@modelcontextprotocol/node');
  const modern = S.createMcpHandler(factory, { legacy: o.legacy === 'stateless' ? 'stateless' : 'reject', onerror });
  const sessions = new Map();
  const jsonError = (status, code, message) =>
    new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
      status,
      headers: { 'content-type': 'application/json' },
    });

  // Sessionful 2025-era serving: one transport + one server instance per session.
  async function legacyFetch(request) {
    const sid = request.headers.get('mcp-session-id');
    if (sid) {
      const t = sessions.get(sid);
      return t ? t.handleRequest(request) : jsonError(404, -32001, 'Session not found');
    }
    if (request.method !== 'POST') return jsonError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const t = new S.WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, t),
      onsessionclosed: (id) => sessions.delete(id),
    });
    t.onclose = () => t.sessionId && sessions.delete(t.sessionId);
    await factory({ era: 'legacy' }).connect(t);
    return t.handleRequest(request);
  }

  const allowedHosts = S.localhostAllowedHostnames();
  const allowedOrigins = S.localhostAllowedOrigins();
  const fetchFace = {
    async fetch(request, options) {
      const rejected =
        S.hostHeaderValidationResponse(request, allowedHosts) ?? S.originValidationResponse(request, allowedOrigins);
      if (rejected) return rejected;
      if (o.legacy === 'stateful' && (await S.isLegacyRequest(request))) return legacyFetch(request);
      return modern.fetch(request, options);
    },
  };
  const node = toNodeHandler(fetchFace, { onerror });
  const http = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/mcp') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    node(req, res).catch(onerror);
  });
  http.listen(o.port, o.host, () => {
    const { port } = http.address();
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    process.stdout.write(`${JSON.stringify({ listening: `http://${host}:${port}/mcp`, port })}\n`);
  });
  const stop = () => {
    http.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
