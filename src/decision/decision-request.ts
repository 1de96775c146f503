import { BadRequestError } from '../common/errors.js';
import type { LimitsConfig } from '../config/config.schema.js';

/** A validated `POST /v1/decisions` body. */
export interface DecisionRequest {
  token: string;
  server: string;
  action: 'call' | 'list';
  tool: { name: string; arguments: Record<string, unknown>; annotations: Record<string, unknown> };
}

/** A validated `POST /v1/decisions/tools` body. */
export interface ToolsRequest {
  token: string;
  server: string;
  tools: { name: string; annotations: Record<string, unknown> }[];
}

function bad(code: string, message: string): never {
  throw new BadRequestError(code, message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) bad('invalid_request', `${where}${k} is not a known field`);
  }
}

function requireString(obj: Record<string, unknown>, key: string, where: string, max: number): string {
  const v = obj[key];
  if (v === undefined) bad('invalid_request', `${where}${key} is required`);
  if (typeof v !== 'string') bad('invalid_request', `${where}${key} must be a string`);
  if (v.length > max) bad('invalid_request', `${where}${key} is longer than ${max} characters`);
  return v;
}

/**
 * Bounds a JSON value's nesting depth and node count without recursion (so
 * hostile input cannot exhaust the stack). Arguments reach the policy as-is,
 * so they are bounded before anything else sees them.
 */
export function checkJsonBounds(value: unknown, maxDepth: number, maxNodes: number, where: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  let nodes = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (++nodes > maxNodes) bad('arguments_too_large', `${where} has more than ${maxNodes} values`);
    if (v !== null && typeof v === 'object') {
      if (depth > maxDepth) bad('arguments_too_deep', `${where} is nested deeper than ${maxDepth} levels`);
      for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
    }
  }
}

function optionalObject(obj: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined || v === null) return {};
  if (!isPlainObject(v)) bad('invalid_request', `${where}${key} must be an object`);
  return v;
}

const MAX_NAME = 256;

function body(raw: unknown): Record<string, unknown> {
  if (!isPlainObject(raw)) bad('invalid_request', 'the body must be a JSON object');
  return raw;
}

function tokenOf(b: Record<string, unknown>, limits: LimitsConfig): string {
  const t = b.token;
  if (t === undefined || t === null) return '';
  if (typeof t !== 'string') bad('invalid_request', 'token must be a string');
  // Oversized tokens are a token problem (401 token_malformed), not a malformed request.
  return t.length > limits.token_bytes + 16 ? t.slice(0, limits.token_bytes + 16) : t;
}

/**
 * Validates a decision body by hand: this route is the hot path, and
 * per-request class-transformer + class-validator cost several times the rest
 * of the request (see BENCHMARKS.md). The DTO classes in decision.dto.ts
 * describe the same schema for OpenAPI; a test keeps the two in agreement.
 */
export function parseDecisionRequest(raw: unknown, limits: LimitsConfig): DecisionRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'server', 'action', 'tool'], '');
  const server = requireString(b, 'server', '', MAX_NAME);
  const action = b.action ?? 'call';
  if (action !== 'call' && action !== 'list') bad('invalid_request', 'action must be "call" or "list"');
  if (b.tool === undefined) bad('invalid_request', 'tool is required');
  if (!isPlainObject(b.tool)) bad('invalid_request', 'tool must be an object');
  const tool = b.tool;
  onlyKeys(tool, ['name', 'arguments', 'annotations'], 'tool.');
  const name = requireString(tool, 'name', 'tool.', MAX_NAME);
  const args = optionalObject(tool, 'arguments', 'tool.');
  const annotations = optionalObject(tool, 'annotations', 'tool.');
  checkJsonBounds(args, limits.arguments_depth, limits.arguments_nodes, 'tool.arguments');
  checkJsonBounds(annotations, 4, 256, 'tool.annotations');
  return { token: tokenOf(b, limits), server, action, tool: { name, arguments: args, annotations } };
}

/** Validates a tools/list filtering body. */
export function parseToolsRequest(raw: unknown, limits: LimitsConfig): ToolsRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'server', 'tools'], '');
  const server = requireString(b, 'server', '', MAX_NAME);
  if (b.tools === undefined) bad('invalid_request', 'tools is required');
  if (!Array.isArray(b.tools)) bad('invalid_request', 'tools must be an array');
  if (b.tools.length > limits.tools_per_list) bad('invalid_request', `tools has more than ${limits.tools_per_list} entries`);
  const tools = b.tools.map((t, i) => {
    const where = `tools[${i}].`;
    if (!isPlainObject(t)) bad('invalid_request', `tools[${i}] must be an object`);
    onlyKeys(t, ['name', 'annotations', 'description', 'inputSchema', 'title', 'outputSchema'], where);
    const name = requireString(t, 'name', where, MAX_NAME);
    const annotations = optionalObject(t, 'annotations', where);
    checkJsonBounds(annotations, 4, 256, `${where}annotations`);
    return { name, annotations };
  });
  return { token: tokenOf(b, limits), server, tools };
}
