import { BadRequestError } from '../common/errors.js';
import type { LimitsConfig } from '../config/config.schema.js';
import { resourceUriRefusal } from '../contract/resource-uri.js';
import { DECISION_ACTIONS, LIST_KINDS, type CompletionSubject, type DecisionAction, type ListKind, type PolicySubject, type ToolSubject } from '../contract/policy-contract.js';

// The subject shapes are the policy's input shapes (src/contract); re-exported for the entry points that import them from here.
export { DECISION_ACTIONS, LIST_KINDS, type CompletionSubject, type DecisionAction, type ListKind, type ToolSubject };

/**
 * A validated `POST /v1/decisions` body. Exactly the subject field the action
 * needs is set: `tool` (call, list of tools), `resource` (read_resource, list
 * of resources), `prompt` (get_prompt, list of prompts), `completion` (complete).
 */
export interface DecisionRequest extends PolicySubject {
  token: string;
  /** Verified claims a trusted gateway sends instead of `token` (README, "Behind a gateway"). */
  claims?: Record<string, unknown>;
  server: string;
  action: DecisionAction;
}

/** A validated `POST /v1/decisions/tools` body. */
export interface ToolsRequest {
  token: string;
  /** Verified claims a trusted gateway sends instead of `token` (README, "Behind a gateway"). */
  claims?: Record<string, unknown>;
  server: string;
  tools: { name: string; annotations: Record<string, unknown> }[];
}

/** A validated `POST /v1/decisions/list` body: `id` is the tool or prompt name, or the resource URI. */
export interface ListRequest {
  token: string;
  /** Verified claims a trusted gateway sends instead of `token` (README, "Behind a gateway"). */
  claims?: Record<string, unknown>;
  server: string;
  kind: ListKind;
  items: { id: string; annotations: Record<string, unknown> }[];
}

/** A validated `POST /v1/decisions/authenticate` body. */
export interface AuthenticateRequest {
  token: string;
  /** Verified claims a trusted gateway sends instead of `token` (README, "Behind a gateway"). */
  claims?: Record<string, unknown>;
  server: string;
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

function requireObject(obj: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined) bad('invalid_request', `${where}${key} is required`);
  if (!isPlainObject(v)) bad('invalid_request', `${where}${key} must be an object`);
  return v;
}

/**
 * Bounds a JSON value's nesting depth, node count and object keys (all
 * depths together) without recursion (so hostile input cannot exhaust the
 * stack). Arguments reach the policy as-is, so they are bounded before
 * anything else sees them; each key costs more downstream than a value (the
 * policy input, opa-wasm's object, the log mask), hence its own, lower limit.
 */
export function checkJsonBounds(value: unknown, maxDepth: number, maxNodes: number, where: string, maxKeys = Infinity): void {
  const stack: [unknown, number][] = [[value, 1]];
  let nodes = 0;
  let keys = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (++nodes > maxNodes) bad('arguments_too_large', `${where} has more than ${maxNodes} values`);
    if (v !== null && typeof v === 'object') {
      if (depth > maxDepth) bad('arguments_too_deep', `${where} is nested deeper than ${maxDepth} levels`);
      const children = Array.isArray(v) ? v : Object.values(v);
      if (!Array.isArray(v) && (keys += children.length) > maxKeys) {
        bad('arguments_too_many_keys', `${where} has more than ${maxKeys} keys (limits.arguments_keys)`);
      }
      for (const child of children) stack.push([child, depth + 1]);
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
const MAX_VALUE = 4096;

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
 * `claims`, sent by a gateway that verified the token itself, in place of
 * `token`: a bounded JSON object, and never next to a token (which one would
 * count is ambiguous). Whether this caller may send claims is checked later.
 */
function claimsOf(b: Record<string, unknown>, limits: LimitsConfig): Record<string, unknown> | undefined {
  const c = b.claims;
  if (c === undefined) return undefined;
  if (!isPlainObject(c)) bad('invalid_request', 'claims must be an object');
  if (b.token !== undefined && b.token !== null) bad('invalid_request', 'send either token or claims, not both');
  checkJsonBounds(c, limits.arguments_depth, limits.arguments_nodes, 'claims', limits.arguments_keys);
  return c;
}

function parseTool(raw: Record<string, unknown>, limits: LimitsConfig): ToolSubject {
  const tool = requireObject(raw, 'tool', '');
  onlyKeys(tool, ['name', 'arguments', 'annotations'], 'tool.');
  const name = requireString(tool, 'name', 'tool.', MAX_NAME);
  const args = optionalObject(tool, 'arguments', 'tool.');
  const annotations = optionalObject(tool, 'annotations', 'tool.');
  checkJsonBounds(args, limits.arguments_depth, limits.arguments_nodes, 'tool.arguments', limits.arguments_keys);
  checkJsonBounds(annotations, 4, 256, 'tool.annotations');
  return { name, arguments: args, annotations };
}

/**
 * A resource URI as the policy may see it: within limits.uri_length, and read
 * the same by the MCP SDKs as by the policy (contract/resource-uri.ts), else
 * a 400 with the refusal's code, before any token or policy work.
 */
function decidableUri(obj: Record<string, unknown>, key: string, where: string, limits: LimitsConfig): string {
  const uri = requireString(obj, key, where, Infinity);
  const refused = resourceUriRefusal(uri, limits.uri_length);
  if (refused) bad(refused.code, `${where}${key}: ${refused.message}`);
  return uri;
}

function parseResource(raw: Record<string, unknown>, limits: LimitsConfig): { uri: string } {
  const r = requireObject(raw, 'resource', '');
  onlyKeys(r, ['uri'], 'resource.');
  return { uri: decidableUri(r, 'uri', 'resource.', limits) };
}

function parsePrompt(raw: Record<string, unknown>, limits: LimitsConfig): { name: string; arguments: Record<string, unknown> } {
  const p = requireObject(raw, 'prompt', '');
  onlyKeys(p, ['name', 'arguments'], 'prompt.');
  const name = requireString(p, 'name', 'prompt.', MAX_NAME);
  const args = optionalObject(p, 'arguments', 'prompt.');
  checkJsonBounds(args, limits.arguments_depth, limits.arguments_nodes, 'prompt.arguments', limits.arguments_keys);
  return { name, arguments: args };
}

function parseCompletion(raw: Record<string, unknown>, limits: LimitsConfig): CompletionSubject {
  const c = requireObject(raw, 'completion', '');
  onlyKeys(c, ['ref', 'argument', 'context'], 'completion.');
  const ref = requireObject(c, 'ref', 'completion.');
  onlyKeys(ref, ['type', 'name', 'uri'], 'completion.ref.');
  const type = ref.type;
  let parsedRef: CompletionSubject['ref'];
  if (type === 'ref/prompt') {
    if (ref.uri !== undefined) bad('invalid_request', 'completion.ref.uri is only for "ref/resource"');
    parsedRef = { type, name: requireString(ref, 'name', 'completion.ref.', MAX_NAME) };
  } else if (type === 'ref/resource') {
    if (ref.name !== undefined) bad('invalid_request', 'completion.ref.name is only for "ref/prompt"');
    // A URI template, looked up by the SDKs as the string it is (not through new URL): only its length is bounded.
    const uri = requireString(ref, 'uri', 'completion.ref.', Infinity);
    if (uri.length > limits.uri_length) bad('uri_too_long', `completion.ref.uri is longer than ${limits.uri_length} characters (limits.uri_length)`);
    parsedRef = { type, uri };
  } else {
    bad('invalid_request', 'completion.ref.type must be "ref/prompt" or "ref/resource"');
  }
  const arg = requireObject(c, 'argument', 'completion.');
  onlyKeys(arg, ['name', 'value'], 'completion.argument.');
  const argument = { name: requireString(arg, 'name', 'completion.argument.', MAX_NAME), value: requireString(arg, 'value', 'completion.argument.', MAX_VALUE) };
  const ctx = optionalObject(c, 'context', 'completion.');
  onlyKeys(ctx, ['arguments'], 'completion.context.');
  const ctxArgs = optionalObject(ctx, 'arguments', 'completion.context.');
  checkJsonBounds(ctxArgs, limits.arguments_depth, limits.arguments_nodes, 'completion.context.arguments', limits.arguments_keys);
  return { ref: parsedRef, argument, context: { arguments: ctxArgs } };
}

/** The one subject field each action (and list kind) carries. */
const SUBJECT: Record<Exclude<DecisionAction, 'list'> | `list:${ListKind}`, 'tool' | 'resource' | 'prompt' | 'completion'> = {
  call: 'tool',
  read_resource: 'resource',
  get_prompt: 'prompt',
  complete: 'completion',
  'list:tool': 'tool',
  'list:resource': 'resource',
  'list:prompt': 'prompt',
};

/**
 * Validates a decision body by hand: this route is the hot path, and
 * per-request class-transformer + class-validator cost several times the rest
 * of the request (see BENCHMARKS.md). The DTO classes in decision.dto.ts
 * describe the same schema for OpenAPI; a test keeps the two in agreement.
 */
export function parseDecisionRequest(raw: unknown, limits: LimitsConfig): DecisionRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'claims', 'server', 'action', 'kind', 'tool', 'resource', 'prompt', 'completion'], '');
  const server = requireString(b, 'server', '', MAX_NAME);
  const action = b.action ?? 'call';
  if (!DECISION_ACTIONS.includes(action as DecisionAction)) bad('invalid_request', `action must be one of ${DECISION_ACTIONS.join(', ')}`);
  let kind: ListKind | undefined;
  if (action === 'list') {
    kind = (b.kind ?? 'tool') as ListKind;
    if (!LIST_KINDS.includes(kind)) bad('invalid_request', `kind must be one of ${LIST_KINDS.join(', ')}`);
  } else if (b.kind !== undefined) {
    bad('invalid_request', 'kind is only for action "list"');
  }
  const subject = SUBJECT[kind ? (`list:${kind}` as const) : (action as Exclude<DecisionAction, 'list'>)];
  // A field of another action is refused rather than ignored: the caller meant something else.
  if (subject !== 'tool' && b.tool !== undefined) misplaced('tool', action, kind);
  if (subject !== 'resource' && b.resource !== undefined) misplaced('resource', action, kind);
  if (subject !== 'prompt' && b.prompt !== undefined) misplaced('prompt', action, kind);
  if (subject !== 'completion' && b.completion !== undefined) misplaced('completion', action, kind);
  const token = tokenOf(b, limits);
  const claims = claimsOf(b, limits);
  const a = action as DecisionAction;
  // One object literal per shape keeps the hot path (action "call") monomorphic.
  switch (subject) {
    case 'tool':
      return kind ? { token, claims, server, action: a, kind, tool: parseTool(b, limits) } : { token, claims, server, action: a, tool: parseTool(b, limits) };
    case 'resource':
      return kind ? { token, claims, server, action: a, kind, resource: parseResource(b, limits) } : { token, claims, server, action: a, resource: parseResource(b, limits) };
    case 'prompt':
      return kind ? { token, claims, server, action: a, kind, prompt: parsePrompt(b, limits) } : { token, claims, server, action: a, prompt: parsePrompt(b, limits) };
    default:
      return { token, claims, server, action: a, completion: parseCompletion(b, limits) };
  }
}

function misplaced(field: string, action: unknown, kind: ListKind | undefined): never {
  bad('invalid_request', `${field} is not a field of action "${String(action)}"${kind ? ` with kind "${kind}"` : ''}`);
}

/** Validates a tools/list filtering body. */
export function parseToolsRequest(raw: unknown, limits: LimitsConfig): ToolsRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'claims', 'server', 'tools'], '');
  const server = requireString(b, 'server', '', MAX_NAME);
  return { token: tokenOf(b, limits), claims: claimsOf(b, limits), server, tools: parseItems(b, 'tools', 'tool', limits).map((i) => ({ name: i.id, annotations: i.annotations })) };
}

/** The MCP fields each kind of listed item may carry, so a server can forward its list as is. */
const ITEM_FIELDS: Record<ListKind, readonly string[]> = {
  tool: ['name', 'annotations', 'description', 'inputSchema', 'title', 'outputSchema', 'icons', '_meta'],
  resource: ['uri', 'name', 'annotations', 'description', 'title', 'mimeType', 'size', 'icons', '_meta'],
  prompt: ['name', 'arguments', 'description', 'title', 'icons', '_meta'],
};

function parseItems(b: Record<string, unknown>, key: string, kind: ListKind, limits: LimitsConfig): ListRequest['items'] {
  const list = b[key];
  if (list === undefined) bad('invalid_request', `${key} is required`);
  if (!Array.isArray(list)) bad('invalid_request', `${key} must be an array`);
  if (list.length > limits.tools_per_list) bad('list_too_long', `${key} has more than ${limits.tools_per_list} entries (limits.tools_per_list)`);
  const items: ListRequest['items'] = [];
  for (let i = 0; i < list.length; i++) {
    const t: unknown = list[i];
    const where = `${key}[${i}].`;
    if (!isPlainObject(t)) bad('invalid_request', `${key}[${i}] must be an object`);
    onlyKeys(t, ITEM_FIELDS[kind], where);
    const id = kind === 'resource' ? requireString(t, 'uri', where, Infinity) : requireString(t, 'name', where, MAX_NAME);
    const annotations = kind === 'prompt' ? {} : optionalObject(t, 'annotations', where);
    checkJsonBounds(annotations, 4, 256, `${where}annotations`);
    // Fail closed without breaking the list: a resource whose URI would be refused
    // when read (too long, or read differently by the SDKs) is hidden, never evaluated.
    if (kind === 'resource' && resourceUriRefusal(id, limits.uri_length)) continue;
    items.push({ id, annotations });
  }
  return items;
}

/** Validates a `POST /v1/decisions/list` body. */
export function parseListRequest(raw: unknown, limits: LimitsConfig): ListRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'claims', 'server', 'kind', 'items'], '');
  const server = requireString(b, 'server', '', MAX_NAME);
  const kind = b.kind;
  if (!LIST_KINDS.includes(kind as ListKind)) bad('invalid_request', `kind must be one of ${LIST_KINDS.join(', ')}`);
  return { token: tokenOf(b, limits), claims: claimsOf(b, limits), server, kind: kind as ListKind, items: parseItems(b, 'items', kind as ListKind, limits) };
}

/** Validates a `POST /v1/decisions/authenticate` body. */
export function parseAuthenticateRequest(raw: unknown, limits: LimitsConfig): AuthenticateRequest {
  const b = body(raw);
  onlyKeys(b, ['token', 'claims', 'server'], '');
  return { token: tokenOf(b, limits), claims: claimsOf(b, limits), server: requireString(b, 'server', '', MAX_NAME) };
}
