import { isRegoSet, regoSet, RegoSet } from '../host-bridge.js';
import { regoEqual } from './subset.js';

/**
 * json.patch (RFC 6902): add, remove, replace, move, copy, test; atomic (any
 * failure → undefined). As in OPA, a path may omit the leading "/", may be an
 * array of segments of any type, and a segment addresses a set by member.
 */

type J = unknown;
type Tok = unknown;

function tokens(path: unknown): Tok[] {
  if (Array.isArray(path)) return [...path];
  if (typeof path !== 'string') throw new TypeError('path must be a string or array');
  const p = path.startsWith('/') ? path.slice(1) : path;
  if (path === '') return [];
  return p.split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Deep copy that keeps sets as sets. */
function clone<T>(v: T): T {
  if (isRegoSet(v)) return regoSet(v.map(clone)) as T;
  if (Array.isArray(v)) return v.map(clone) as T;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
  return v;
}

function member(set: RegoSet, t: Tok): number {
  return set.findIndex((m) => regoEqual(m, t));
}

function key(t: Tok): string {
  if (typeof t !== 'string') throw new TypeError('object keys in a path must be strings');
  return t;
}

/**
 * An object's own member: `__proto__`, `constructor` and the like are
 * ordinary keys in Rego, so lookups never reach the prototype chain.
 */
function own(o: object, t: Tok): J {
  const k = key(t);
  return Object.hasOwn(o, k) ? (o as Record<string, J>)[k] : undefined;
}

/** Sets an own data property even for `__proto__` (plain assignment would replace the prototype). */
function setOwn(o: object, t: Tok, value: J): void {
  Object.defineProperty(o, key(t), { value, writable: true, enumerable: true, configurable: true });
}

function parentOf(doc: J, toks: Tok[]): J {
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (isRegoSet(cur)) cur = cur[member(cur, t)];
    else if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (cur && typeof cur === 'object') cur = own(cur, t);
    else throw new TypeError('path does not exist');
    if (cur === undefined) throw new TypeError('path does not exist');
  }
  return cur;
}

function get(doc: J, toks: Tok[]): J {
  if (toks.length === 0) return doc;
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  const v = isRegoSet(p)
    ? p[member(p, last)]
    : Array.isArray(p)
      ? p[index(p, last, false)]
      : p && typeof p === 'object'
        ? own(p, last)
        : undefined;
  if (v === undefined) throw new TypeError('path does not exist');
  return v;
}

function index(arr: J[], tok: Tok, forAdd: boolean): number {
  const t = typeof tok === 'number' && Number.isInteger(tok) ? String(tok) : tok;
  if (typeof t !== 'string') throw new TypeError('array index must be a number');
  if (forAdd && t === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(t)) throw new TypeError(`invalid array index ${t}`);
  const i = Number(t);
  if (i > arr.length || (!forAdd && i >= arr.length)) throw new TypeError('array index out of range');
  return i;
}

function add(doc: J, toks: Tok[], value: J): J {
  if (toks.length === 0) return value;
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  if (isRegoSet(p)) {
    // The last segment names the member being added, so it must equal the value.
    if (!regoEqual(last, value)) throw new TypeError('set member and value differ');
    if (member(p, value) < 0) p.push(value);
  } else if (Array.isArray(p)) p.splice(index(p, last, true), 0, value);
  else if (p && typeof p === 'object') setOwn(p, last, value);
  else throw new TypeError('path does not exist');
  return doc;
}

function remove(doc: J, toks: Tok[]): J {
  if (toks.length === 0) throw new TypeError('cannot remove the root');
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  if (isRegoSet(p)) {
    const i = member(p, last);
    if (i < 0) throw new TypeError('path does not exist');
    p.splice(i, 1);
  } else if (Array.isArray(p)) p.splice(index(p, last, false), 1);
  else if (p && typeof p === 'object' && Object.hasOwn(p, key(last))) delete (p as Record<string, J>)[key(last)];
  else throw new TypeError('path does not exist');
  return doc;
}


export function jsonPatch(target: J, patches: J): J {
  if (!Array.isArray(patches)) throw new TypeError('patches must be an array');
  let doc = clone(target);
  for (const p of patches) {
    if (!p || typeof p !== 'object') throw new TypeError('each patch must be an object');
    const { op, path, from, value } = p as { op?: unknown; path?: unknown; from?: unknown; value?: J };
    const toks = tokens(path);
    switch (op) {
      case 'add':
        if (!('value' in (p as object))) throw new TypeError('add needs a value');
        doc = add(doc, toks, clone(value));
        break;
      case 'remove':
        doc = remove(doc, toks);
        break;
      case 'replace':
        if (!('value' in (p as object))) throw new TypeError('replace needs a value');
        if (toks.length === 0) {
          doc = clone(value);
          break;
        }
        get(doc, toks);
        doc = add(remove(doc, toks), toks, clone(value));
        break;
      case 'move': {
        const f = tokens(from);
        const v = get(doc, f);
        doc = add(remove(doc, f), toks, v);
        break;
      }
      case 'copy':
        doc = add(doc, toks, clone(get(doc, tokens(from))));
        break;
      case 'test':
        if (!('value' in (p as object))) throw new TypeError('test needs a value');
        if (!regoEqual(get(doc, toks), value)) throw new TypeError('test failed');
        break;
      default:
        throw new TypeError(`unknown op ${String(op)}`);
    }
  }
  return doc;
}
