import { createHmac, timingSafeEqual } from 'node:crypto';

function str(v: unknown, what = 'operand'): string {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  return v;
}

/** crypto.hmac.<hash>(x, key) as hex. */
export function hmac(hash: string) {
  return (x: unknown, key: unknown) => createHmac(hash, str(key)).update(str(x)).digest('hex');
}

/** crypto.hmac.equal: constant-time comparison of two MACs. */
export function hmacEqual(a: unknown, b: unknown): boolean {
  const x = Buffer.from(str(a));
  const y = Buffer.from(str(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

export function base64urlEncodeNoPad(x: unknown): string {
  return Buffer.from(str(x)).toString('base64url');
}

/** Go's url.QueryEscape: everything but [A-Za-z0-9-_.~] escaped, space as "+". */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function queryUnescape(s: string): string {
  if (/%(?![0-9a-fA-F]{2})/.test(s)) throw new TypeError('invalid URL escape');
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export function urlqueryEncode(x: unknown): string {
  return queryEscape(str(x));
}

export function urlqueryDecode(x: unknown): string {
  return queryUnescape(str(x));
}

/** Keys sorted (as Go's url.Values.Encode); arrays and sets repeat the key. */
export function urlqueryEncodeObject(x: unknown): string {
  if (!x || typeof x !== 'object' || Array.isArray(x)) throw new TypeError('operand must be an object');
  const pairs: string[] = [];
  for (const k of Object.keys(x).sort()) {
    const v = (x as Record<string, unknown>)[k];
    const vals = Array.isArray(v) ? v : [v];
    for (const item of vals) pairs.push(`${queryEscape(k)}=${queryEscape(str(item, 'value'))}`);
  }
  return pairs.join('&');
}

export function urlqueryDecodeObject(x: unknown): Record<string, string[]> {
  // No prototype: a key such as "__proto__" or "constructor" is an ordinary key, as in Go.
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const part of str(x).split(/[&]/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = queryUnescape(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : queryUnescape(part.slice(eq + 1));
    (out[k] ??= []).push(v);
  }
  return out;
}

/** glob.quote_meta: escapes the glob metacharacters * ? \ [ ] { }. */
export function globQuoteMeta(x: unknown): string {
  return str(x).replace(/[*?\\[\]{}]/g, (c) => `\\${c}`);
}

/** indexof_n(s, sub): every (code point) index where sub starts. */
export function indexofN(s: unknown, sub: unknown): number[] {
  const hay = [...str(s)];
  const needle = [...str(sub)];
  const out: number[] = [];
  if (needle.length === 0) return out;
  for (let i = 0; i + needle.length <= hay.length; i++) {
    if (needle.every((c, j) => hay[i + j] === c)) out.push(i);
  }
  return out;
}

/** strings.split_n(x, delimiter, n): first n parts (n > 0), last |n| parts (n < 0), none (n = 0). */
export function stringsSplitN(x: unknown, delim: unknown, n: unknown): string[] {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError('n must be an integer');
  const parts = str(x).split(str(delim));
  if (n === 0) return [];
  return n > 0 ? parts.slice(0, n) : parts.slice(Math.max(0, parts.length + n));
}

/** numbers.range_step(a, b, step): inclusive, descending when a > b; step ≥ 1. */
export function rangeStep(a: unknown, b: unknown, step: unknown): number[] {
  if (![a, b, step].every((v) => typeof v === 'number' && Number.isInteger(v))) throw new TypeError('operands must be integers');
  const [x, y, s] = [a, b, step] as number[];
  if (s < 1) throw new RangeError('step must be a positive integer');
  if (Math.abs(y - x) / s > 1e7) throw new RangeError('range too large');
  const out: number[] = [];
  if (x <= y) for (let v = x; v <= y; v += s) out.push(v);
  else for (let v = x; v >= y; v -= s) out.push(v);
  return out;
}

/** A copy with object keys sorted recursively: how OPA (Go) serializes objects. */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** json.marshal_with_options(x, {pretty, prefix, indent}) as Go's json.MarshalIndent. */
export function marshalWithOptions(x: unknown, opts: unknown): string {
  if (!opts || typeof opts !== 'object' || Array.isArray(opts)) throw new TypeError('opts must be an object');
  const o = opts as { pretty?: unknown; prefix?: unknown; indent?: unknown };
  for (const k of Object.keys(o)) if (!['pretty', 'prefix', 'indent'].includes(k)) throw new TypeError(`unknown option ${k}`);
  if (o.pretty !== undefined && typeof o.pretty !== 'boolean') throw new TypeError('pretty must be a boolean');
  const prefix = o.prefix === undefined ? '' : str(o.prefix, 'prefix');
  const indent = o.indent === undefined ? '\t' : str(o.indent, 'indent');
  const pretty = o.pretty ?? (o.prefix !== undefined || o.indent !== undefined);
  const sorted = sortKeys(x);
  if (!pretty) return JSON.stringify(sorted);
  // JSON.stringify treats '' as "no indentation at all"; Go still breaks lines, so indent with a marker and drop it.
  const marker = '\uE000';
  const text = JSON.stringify(sorted, null, indent === '' ? marker : indent);
  const lines = indent === '' ? text.split(marker).join('') : text;
  return lines.split('\n').map((l) => prefix + l).join('\n');
}

/**
 * graph.reachable_paths(graph, initial): every path from an initial node, each
 * ending at a node without edges, at a node outside the graph, or before a cycle
 * (OPA's v1/topdown/reachable.go). Returns the set of paths as an array.
 */
export function reachablePaths(graph: unknown, initial: unknown): unknown[][] {
  if (!graph || typeof graph !== 'object' || Array.isArray(graph)) throw new TypeError('operand 1 must be an object');
  if (!Array.isArray(initial)) throw new TypeError('operand 2 must be an array or set');
  const g = graph as Record<string, unknown>;
  const out = new Map<string, unknown[]>();
  const add = (path: unknown[]) => out.set(JSON.stringify(path), path);
  const edgesOf = (node: unknown): unknown[] | null | undefined => {
    if (typeof node !== 'string' || !Object.prototype.hasOwnProperty.call(g, node)) return undefined;
    const e = g[node];
    return Array.isArray(e) ? e : null;
  };
  const build = (root: unknown, path: unknown[], reached: Set<string>, depth: number): void => {
    if (depth > 10_000) throw new RangeError('graph too deep');
    const edges = edgesOf(root);
    if (edges === undefined) {
      add(path);
      return;
    }
    const here = [...path, root];
    if (!edges || edges.length === 0) {
      add(here);
      return;
    }
    const seen = new Set(reached).add(JSON.stringify(root));
    for (const n of edges) {
      if (seen.has(JSON.stringify(n))) add(here);
      else build(n, here, seen, depth + 1);
    }
  };
  for (const node of initial) {
    const edges = edgesOf(node);
    if (edges === undefined) continue;
    if (edges && edges.length > 0) for (const n of edges) build(n, [node], new Set([JSON.stringify(node)]), 0);
    else add([node]);
  }
  return [...out.keys()].sort().map((k) => out.get(k)!);
}
