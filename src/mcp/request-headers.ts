import type { IncomingMessage } from 'node:http';

/**
 * Header–body agreement for MCP on Streamable HTTP, as the revision of
 * 2026-07-28 prescribes: modelcontextprotocol/modelcontextprotocol,
 * docs/specification/2026-07-28/basic/transports/streamable-http.mdx,
 * sections "Request Metadata" (Mcp-Method, Mcp-Name, MCP-Protocol-Version
 * against `_meta`, the `=?base64?…?=` value encoding) and "Server Validation"
 * (a mismatch, a missing required header or a malformed value is answered
 * with HTTP 400 and JSON-RPC error -32020 HeaderMismatch).
 *
 * A gateway may route or authorize on these headers without reading the
 * body; the guard decides on the body. Refusing any disagreement means both
 * always talk about the same method and the same tool, resource or prompt.
 */

/** JSON-RPC error code of a header/body disagreement (MCP 2026-07-28 `HeaderMismatch`). */
export const HEADER_MISMATCH = -32020;

/** The first revision whose clients must send Mcp-Method and Mcp-Name. */
const HEADERS_REQUIRED_FROM = '2026-07-28';

/** Where Mcp-Name comes from, per method ("Standard Request Headers"). */
const NAME_SOURCE: Record<string, 'name' | 'uri'> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

const SENTINEL = /^=\?base64\?(.*)\?=$/s;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** RFC 9110 field value characters: visible ASCII, space and tab. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

type Header = { value?: string; problem?: string };

function header(req: IncomingMessage, name: string, display: string): Header {
  // headersDistinct keeps repeated headers apart; Node joins them with ", " in req.headers.
  const all = req.headersDistinct?.[name] ?? (req.headers[name] === undefined ? undefined : [String(req.headers[name])]);
  if (!all || all.length === 0) return {};
  if (all.length > 1) return { problem: `more than one ${display} header` };
  if (!FIELD_VALUE.test(all[0])) return { problem: `${display} header contains invalid characters` };
  return { value: all[0] };
}

/** Undoes the `=?base64?…?=` sentinel encoding; undefined when the encoding is broken. */
function decoded(value: string): string | undefined {
  const m = SENTINEL.exec(value);
  if (!m) return value;
  if (!BASE64.test(m[1])) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(m[1], 'base64'));
  } catch {
    return undefined;
  }
}

function quote(v: string): string {
  return v.length > 120 ? `'${v.slice(0, 120)}…'` : `'${v}'`;
}

function paramsOf(message: Record<string, unknown>): Record<string, unknown> {
  const p = message.params;
  return p !== null && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

/**
 * Checks one JSON-RPC message of a POST against the request's Mcp-Method,
 * Mcp-Name and MCP-Protocol-Version headers. Returns the HeaderMismatch
 * message, or undefined when they agree. Messages without a method (client
 * responses) carry nothing a header could contradict.
 */
export function headerMismatch(req: IncomingMessage, message: unknown): string | undefined {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const m = message as Record<string, unknown>;
  if (typeof m.method !== 'string') return undefined;
  const params = paramsOf(m);

  const version = header(req, 'mcp-protocol-version', 'MCP-Protocol-Version');
  if (version.problem) return `Header mismatch: ${version.problem}`;
  const meta = params._meta as Record<string, unknown> | undefined;
  const bodyVersion = meta && typeof meta === 'object' ? meta['io.modelcontextprotocol/protocolVersion'] : undefined;
  if (version.value !== undefined && typeof bodyVersion === 'string' && bodyVersion !== version.value) {
    return `Header mismatch: MCP-Protocol-Version header value ${quote(version.value)} does not match body value ${quote(bodyVersion)}`;
  }
  const required = version.value !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(version.value) && version.value >= HEADERS_REQUIRED_FROM;

  const method = header(req, 'mcp-method', 'Mcp-Method');
  if (method.problem) return `Header mismatch: ${method.problem}`;
  if (method.value === undefined) {
    if (required) return 'Header mismatch: the Mcp-Method header is missing';
  } else if (method.value !== m.method) {
    return `Header mismatch: Mcp-Method header value ${quote(method.value)} does not match body value ${quote(m.method)}`;
  }

  const name = header(req, 'mcp-name', 'Mcp-Name');
  if (name.problem) return `Header mismatch: ${name.problem}`;
  const source = NAME_SOURCE[m.method];
  if (name.value === undefined) {
    return required && source ? 'Header mismatch: the Mcp-Name header is missing' : undefined;
  }
  const headerName = decoded(name.value);
  if (headerName === undefined) return 'Header mismatch: the Mcp-Name header has a malformed base64 value';
  // Only tools/call, resources/read and prompts/get define a name; any other
  // method with an Mcp-Name would let a gateway act on a name the body lacks.
  if (!source) return `Header mismatch: Mcp-Name header given for ${quote(m.method)}, which carries no name`;
  const bodyName = params[source];
  if (typeof bodyName !== 'string' || bodyName !== headerName) {
    return `Header mismatch: Mcp-Name header value ${quote(headerName)} does not match body value ${quote(typeof bodyName === 'string' ? bodyName : String(JSON.stringify(bodyName)))}`;
  }
  return undefined;
}
