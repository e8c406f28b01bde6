// Shared plumbing for the TypeScript peer clients and servers.
//
// Packages are not installed next to this file: .ci/install-peers.sh puts them
// in $PEERS_NODE_MODULES (default <repo>/target/peers/node/node_modules). ESM
// bare imports cannot be pointed elsewhere, so peers load the packages with
// `peerRequire` (CommonJS builds, which every package used here ships).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PEERS_NODE_MODULES =
  process.env.PEERS_NODE_MODULES || resolve(HERE, '../../target/peers/node/node_modules');
export const peerRequire = createRequire(join(PEERS_NODE_MODULES, '_peers_.js'));

export function die(msg) {
  process.stderr.write(`${msg}\n`);
  process.exit(2);
}

export function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Split a command line on whitespace, honouring '...' and "..." quoting. */
export function splitCommand(s) {
  const out = [];
  let cur = '';
  let quote = null;
  let any = false;
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${s}`);
  if (cur || any) out.push(cur);
  return out;
}

const CLIENT_USAGE = `usage: (--stdio "<command> <args...>" | --url URL) [--era legacy|modern|auto]
       [--profile conformance|peer|everything] [--timeout-ms N]`;

/** Parse the common client CLI. */
export function parseClientArgs(argv, { eras = ['legacy', 'modern', 'auto'] } = {}) {
  const o = { era: 'legacy', profile: 'conformance', timeoutMs: 30000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`missing value for ${a}\n${CLIENT_USAGE}`);
      return argv[++i];
    };
    if (a === '--stdio') o.stdio = splitCommand(val());
    else if (a === '--url') o.url = val();
    else if (a === '--era') o.era = val();
    else if (a === '--profile') o.profile = val();
    else if (a === '--timeout-ms') o.timeoutMs = Number(val());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${CLIENT_USAGE}\n`);
      process.exit(0);
    } else die(`unknown argument ${a}\n${CLIENT_USAGE}`);
  }
  if (!!o.stdio === !!o.url) die(`exactly one of --stdio or --url is required\n${CLIENT_USAGE}`);
  if (o.stdio && o.stdio.length === 0) die('--stdio needs a command');
  if (!eras.includes(o.era)) die(`--era must be one of ${eras.join('|')} for this client`);
  o.steps = loadSteps(o.profile);
  return o;
}

export function loadSteps(profile) {
  const all = JSON.parse(readFileSync(join(HERE, '..', 'profiles.json'), 'utf8'));
  if (!Array.isArray(all[profile])) die(`unknown profile ${profile}`);
  return all[profile];
}

/** Content that satisfies an elicitation's requestedSchema (the conformance answers first). */
export function elicitContent(schema) {
  const content = {};
  const props = (schema && schema.properties) || {};
  for (const [key, p] of Object.entries(props)) {
    if (key === 'username') content[key] = 'testuser';
    else if (key === 'email' || p.format === 'email') content[key] = 'test@example.com';
    else if (key === 'name' && p.type === 'string') content[key] = 'Alice';
    else if (p.default !== undefined) content[key] = p.default;
    else if (p.type === 'boolean') content[key] = true;
    else if (p.type === 'number' || p.type === 'integer') content[key] = p.minimum ?? 1;
    else if (p.type === 'array') {
      const it = p.items || {};
      const first = it.enum?.[0] ?? it.anyOf?.[0]?.const ?? it.oneOf?.[0]?.const;
      content[key] = first === undefined ? [] : [first];
    } else if (Array.isArray(p.enum)) content[key] = p.enum[0];
    else if (Array.isArray(p.oneOf) && p.oneOf[0]?.const !== undefined) content[key] = p.oneOf[0].const;
    else if (p.format === 'date') content[key] = '2024-01-01';
    else if (p.format === 'date-time') content[key] = '2024-01-01T00:00:00Z';
    else if (p.format === 'uri') content[key] = 'https://example.com';
    else content[key] = 'Alice';
  }
  return content;
}

export const SAMPLING_TEXT = 'This is a test response from the client';
export const samplingResult = () => ({
  role: 'assistant',
  content: { type: 'text', text: SAMPLING_TEXT },
  model: 'test-model',
  stopReason: 'endTurn',
});

/** Concatenate the text found in a tool / resource / prompt result. */
export function textOf(result) {
  const parts = [];
  const block = (c) => {
    if (!c) return;
    if (typeof c.text === 'string') parts.push(c.text);
    if (c.resource && typeof c.resource.text === 'string') parts.push(c.resource.text);
  };
  for (const c of result?.content ?? []) block(c);
  for (const c of result?.contents ?? []) block(c);
  for (const m of result?.messages ?? []) {
    for (const c of Array.isArray(m.content) ? m.content : [m.content]) block(c);
  }
  if (result?.structuredContent && parts.length === 0) parts.push(JSON.stringify(result.structuredContent));
  return parts.join('\n');
}

const clip = (s, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/**
 * Run the profile's steps through `ops` = { listTools(), callTool(name, args|undefined),
 * listResources(), readResource(uri), getPrompt(name, args) }, printing one JSON line per
 * step. `era` is the negotiated era ('legacy' | 'modern'). Returns the tally.
 */
export async function runSteps(ops, steps, { era, timeoutMs, tally }) {
  const chosen = steps.filter((s) => !s.eras || s.eras.includes(era));
  for (const s of chosen) {
    await record(tally, s.step, timeoutMs, async () => {
      switch (s.kind) {
        case 'list_tools': {
          const r = await ops.listTools();
          const names = (r.tools ?? []).map((t) => t.name);
          const missing = (s.expectTools ?? []).filter((n) => !names.includes(n));
          if (missing.length) throw new Error(`tools missing from tools/list: ${missing.join(', ')}`);
          return { count: names.length, names: names.slice(0, 40) };
        }
        case 'call_tool': {
          const r = await ops.callTool(s.name, s.args);
          const text = textOf(r);
          if (r.isError) throw new Error(`tool ${s.name} returned isError: ${clip(text)}`);
          check(s, text);
          return { name: s.name, text: clip(text) };
        }
        case 'read_resource': {
          let uri = s.uri;
          if (uri === '*first*') {
            const l = await ops.listResources();
            if (!l.resources?.length) throw new Error('resources/list is empty');
            uri = l.resources[0].uri;
          }
          const r = await ops.readResource(uri);
          const text = textOf(r);
          if (!r.contents?.length) throw new Error(`no contents for ${uri}`);
          check(s, text);
          return { uri, text: clip(text) };
        }
        case 'get_prompt': {
          const r = await ops.getPrompt(s.name, s.args ?? {});
          const text = textOf(r);
          if (!r.messages?.length) throw new Error(`no messages from prompt ${s.name}`);
          check(s, text);
          return { name: s.name, text: clip(text) };
        }
        default:
          throw new Error(`unknown step kind ${s.kind}`);
      }
    });
  }
  return tally;
}

function check(step, text) {
  if (step.expect && !text.includes(step.expect)) {
    throw new Error(`expected text containing ${JSON.stringify(step.expect)}, got ${JSON.stringify(clip(text))}`);
  }
}

/** Run one step, emit its line, and count it. */
export async function record(tally, step, timeoutMs, fn) {
  try {
    const detail = await withTimeout(Promise.resolve().then(fn), timeoutMs, step);
    tally.passed++;
    emit({ step, ok: true, detail: detail ?? null });
    return true;
  } catch (e) {
    tally.failed++;
    emit({ step, ok: false, detail: { error: errText(e) } });
    return false;
  }
}

export function errText(e) {
  if (!e) return String(e);
  const code = e.code !== undefined ? ` (code ${e.code})` : '';
  return `${e.message ?? String(e)}${code}`;
}

/** Emit the summary, report to stderr on failure, and exit. */
export function finish(tally) {
  emit({ summary: { passed: tally.passed, failed: tally.failed } });
  if (tally.failed) process.stderr.write(`${tally.failed} step(s) failed\n`);
  // Exit explicitly: child processes / keep-alive sockets must not keep us alive.
  process.exitCode = tally.failed ? 1 : 0;
  setTimeout(() => process.exit(process.exitCode), 50).unref();
}
