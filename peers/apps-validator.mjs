#!/usr/bin/env node
// Check a server's MCP Apps output (io.modelcontextprotocol/ui, SEP-1865) with what
// @modelcontextprotocol/ext-apps ships for hosts: its zod schemas (McpUiToolMetaSchema,
// McpUiResourceMetaSchema, ...), its host helpers (getToolUiResourceUri, isToolVisibilityAppOnly,
// buildAllowAttribute, getUiCapability) and its constants (EXTENSION_ID, RESOURCE_MIME_TYPE,
// RESOURCE_URI_META_KEY). The package has no validator program of its own; this is the host's view of
// a server, one check per requirement, through the TypeScript SDK v2 client.
//
//   node apps-validator.mjs --stdio "<cmd> <args...>" [--era legacy|modern] [--timeout-ms N]
//
// Prints "ok <check>" or "FAIL <check>: <why>" per check, then "apps-validator <era>: P/T".
// Exit 0 when every check passed, 1 otherwise, 2 on a usage error.
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { peerRequire, splitCommand, die, errText } from './lib/common.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const stdio = opt('--stdio');
const era = opt('--era', 'legacy');
const timeout = Number(opt('--timeout-ms', '15000'));
if (!stdio || !['legacy', 'modern'].includes(era)) {
  die('usage: apps-validator.mjs --stdio "<cmd> <args...>" [--era legacy|modern] [--timeout-ms N]');
}
const command = splitCommand(stdio);

const esm = (spec) => import(pathToFileURL(peerRequire.resolve(spec)).href);
const bridge = await esm('@modelcontextprotocol/ext-apps/app-bridge');
const serverHelpers = await esm('@modelcontextprotocol/ext-apps/server');
const {
  McpUiToolMetaSchema, McpUiResourceMetaSchema, McpUiResourceCspSchema, McpUiResourcePermissionsSchema,
  McpUiToolVisibilitySchema, RESOURCE_MIME_TYPE, RESOURCE_URI_META_KEY,
  getToolUiResourceUri, isToolVisibilityAppOnly, buildAllowAttribute,
} = bridge;
const { EXTENSION_ID, getUiCapability } = serverHelpers;
const { Client } = peerRequire('@modelcontextprotocol/client');
const { StdioClientTransport } = peerRequire('@modelcontextprotocol/client/stdio');

let passed = 0;
let total = 0;
function check(name, fn) {
  total += 1;
  try {
    const why = fn();
    if (why === true || why === undefined) {
      passed += 1;
      console.log(`ok ${name}`);
      return true;
    }
    console.log(`FAIL ${name}: ${why}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${errText(e)}`);
  }
  return false;
}

/** A zod parse that also refuses members the schema does not know (a misspelt field is an error). */
function strictParse(schema, value, what) {
  const r = schema.safeParse(value);
  if (!r.success) return `${what} does not match the schema: ${r.error.message}`;
  if (!isDeepStrictEqual(r.data, value)) {
    return `${what} has members the schema does not know: sent ${JSON.stringify(value)}, schema keeps ${JSON.stringify(r.data)}`;
  }
  return true;
}

async function connect(withApps) {
  const capabilities = withApps ? { extensions: { [EXTENSION_ID]: { mimeTypes: [RESOURCE_MIME_TYPE] } } } : {};
  const mode = era === 'modern' ? { pin: '2026-07-28' } : 'legacy';
  const client = new Client({ name: 'apps-validator', version: '1.0.0' }, { capabilities, versionNegotiation: { mode } });
  const transport = new StdioClientTransport({ command: command[0], args: command.slice(1), stderr: 'inherit' });
  await client.connect(transport, { timeout });
  return client;
}

const textOf = (result) =>
  (result.content ?? []).filter((c) => c.type === 'text' && typeof c.text === 'string' && c.text.trim() !== '');

let host;
try {
  host = await connect(true);
} catch (e) {
  check(`${era}: connect`, () => errText(e));
}
if (host) {
  const req = { timeout };
  const version = host.getNegotiatedProtocolVersion();
  check(`${era}: negotiated era`, () =>
    (era === 'modern') === (version === '2026-07-28') || `negotiated ${version}`);
  const ui = getUiCapability(host.getServerCapabilities());
  check('server declares io.modelcontextprotocol/ui', () => ui !== undefined || 'no capabilities.extensions entry');
  if (ui?.mimeTypes !== undefined) {
    check('server lists the view MIME type in its ui settings', () =>
      ui.mimeTypes.includes(RESOURCE_MIME_TYPE) || JSON.stringify(ui));
  }

  const { tools } = await host.listTools(undefined, req);
  const linked = [];
  for (const tool of tools) {
    if (tool._meta?.ui === undefined && tool._meta?.[RESOURCE_URI_META_KEY] === undefined) continue;
    let uri;
    const ok = check(`tool ${tool.name}: resource URI (getToolUiResourceUri)`, () => {
      uri = getToolUiResourceUri(tool);
      return uri !== undefined || 'no URI';
    });
    if (!ok) continue;
    linked.push({ tool, uri });
    check(`tool ${tool.name}: _meta.ui (McpUiToolMetaSchema)`, () =>
      strictParse(McpUiToolMetaSchema, tool._meta.ui, '_meta.ui'));
    check(`tool ${tool.name}: legacy _meta["${RESOURCE_URI_META_KEY}"] matches`, () =>
      tool._meta[RESOURCE_URI_META_KEY] === tool._meta.ui?.resourceUri ||
      `flat ${tool._meta[RESOURCE_URI_META_KEY]} vs nested ${tool._meta.ui?.resourceUri}`);
    if (tool._meta.ui?.visibility !== undefined) {
      check(`tool ${tool.name}: visibility (McpUiToolVisibilitySchema)`, () => {
        const v = tool._meta.ui.visibility;
        if (!Array.isArray(v) || v.length === 0) return 'visibility must be a non-empty array';
        const bad = v.filter((x) => !McpUiToolVisibilitySchema.safeParse(x).success);
        return bad.length === 0 || `unknown values ${JSON.stringify(bad)}`;
      });
    }
  }
  check('at least one tool has a view', () => linked.length > 0 || 'none');
  check('at least one tool is app-only (isToolVisibilityAppOnly)', () =>
    linked.some(({ tool }) => isToolVisibilityAppOnly(tool)) || 'none');

  const { resources } = await host.listResources(undefined, req);
  for (const uri of [...new Set(linked.map((l) => l.uri))]) {
    const listed = resources.find((r) => r.uri === uri);
    check(`${uri}: listed with ${RESOURCE_MIME_TYPE}`, () =>
      listed?.mimeType === RESOURCE_MIME_TYPE || (listed ? `mimeType ${listed.mimeType}` : 'not listed'));
    if (listed?._meta?.ui !== undefined) {
      check(`${uri}: listed _meta.ui (McpUiResourceMetaSchema)`, () =>
        strictParse(McpUiResourceMetaSchema, listed._meta.ui, 'listed _meta.ui'));
    }
    let read;
    try {
      read = await host.readResource({ uri }, req);
      check(`${uri}: resources/read`, () => true);
    } catch (e) {
      check(`${uri}: resources/read`, () => errText(e));
      continue;
    }
    const item = read.contents?.[0];
    check(`${uri}: one content item with the same URI`, () =>
      (read.contents.length === 1 && item.uri === uri) || JSON.stringify(read.contents.map((c) => c.uri)));
    check(`${uri}: content mimeType is ${RESOURCE_MIME_TYPE}`, () =>
      item?.mimeType === RESOURCE_MIME_TYPE || `mimeType ${item?.mimeType}`);
    check(`${uri}: content is an HTML document`, () => {
      const html = typeof item?.text === 'string' ? item.text : Buffer.from(item?.blob ?? '', 'base64').toString();
      return /<html[\s>]/i.test(html) || 'no <html> element';
    });
    const meta = item?._meta?.ui;
    if (meta !== undefined) {
      check(`${uri}: content _meta.ui (McpUiResourceMetaSchema)`, () =>
        strictParse(McpUiResourceMetaSchema, meta, 'content _meta.ui'));
      if (meta.csp !== undefined) {
        check(`${uri}: csp (McpUiResourceCspSchema)`, () => strictParse(McpUiResourceCspSchema, meta.csp, 'csp'));
      }
      if (meta.permissions !== undefined) {
        check(`${uri}: permissions (McpUiResourcePermissionsSchema, buildAllowAttribute)`, () => {
          const r = strictParse(McpUiResourcePermissionsSchema, meta.permissions, 'permissions');
          if (r !== true) return r;
          const allow = buildAllowAttribute(meta.permissions);
          return (typeof allow === 'string' && allow.length > 0) || `allow attribute ${JSON.stringify(allow)}`;
        });
      }
      if (listed?._meta?.ui !== undefined) {
        check(`${uri}: listed and read _meta.ui agree`, () =>
          isDeepStrictEqual(listed._meta.ui, meta) || 'they differ');
      }
    }
  }

  // The spec: tools MUST return a meaningful content array even when a view renders them.
  for (const { tool } of linked) {
    try {
      const r = await host.callTool({ name: tool.name, arguments: {} }, req);
      check(`call ${tool.name} (host renders apps): text content ${JSON.stringify(textOf(r)[0]?.text ?? '')}`, () =>
        (!r.isError && textOf(r).length > 0) || JSON.stringify(r));
    } catch (e) {
      check(`call ${tool.name} (host renders apps): text content`, () => errText(e));
    }
  }
  await host.close();

  // A host that does not declare the extension gets the text fallback.
  try {
    const plain = await connect(false);
    for (const { tool } of linked) {
      const r = await plain.callTool({ name: tool.name, arguments: {} }, req);
      check(`call ${tool.name} (text-only host): text fallback ${JSON.stringify(textOf(r)[0]?.text ?? '')}`, () =>
        (!r.isError && textOf(r).length > 0) || JSON.stringify(r));
    }
    await plain.close();
  } catch (e) {
    check('text-only host', () => errText(e));
  }
}

console.log(`apps-validator ${era}: ${passed}/${total}`);
process.exit(passed === total && total > 0 ? 0 : 1);
