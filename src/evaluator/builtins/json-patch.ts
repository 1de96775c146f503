import { sortKeys } from './misc.js';

/** json.patch (RFC 6902): add, remove, replace, move, copy, test; atomic (any failure → undefined). */

type J = unknown;

function tokens(path: unknown): string[] {
  if (Array.isArray(path)) return path.map(String);
  if (typeof path !== 'string') throw new TypeError('path must be a string or array');
  if (path === '') return [];
  if (!path.startsWith('/')) throw new TypeError(`invalid JSON pointer ${path}`);
  return path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function parentOf(doc: J, toks: string[]): J {
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (cur && typeof cur === 'object') cur = (cur as Record<string, J>)[t];
    else throw new TypeError('path does not exist');
    if (cur === undefined) throw new TypeError('path does not exist');
  }
  return cur;
}

function get(doc: J, toks: string[]): J {
  if (toks.length === 0) return doc;
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  const v = Array.isArray(p) ? p[Number(last)] : p && typeof p === 'object' ? (p as Record<string, J>)[last] : undefined;
  if (v === undefined) throw new TypeError('path does not exist');
  return v;
}

function index(arr: J[], t: string, forAdd: boolean): number {
  if (forAdd && t === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(t)) throw new TypeError(`invalid array index ${t}`);
  const i = Number(t);
  if (i > arr.length || (!forAdd && i >= arr.length)) throw new TypeError('array index out of range');
  return i;
}

function add(doc: J, toks: string[], value: J): J {
  if (toks.length === 0) return value;
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  if (Array.isArray(p)) p.splice(index(p, last, true), 0, value);
  else if (p && typeof p === 'object') (p as Record<string, J>)[last] = value;
  else throw new TypeError('path does not exist');
  return doc;
}

function remove(doc: J, toks: string[]): J {
  if (toks.length === 0) throw new TypeError('cannot remove the root');
  const p = parentOf(doc, toks);
  const last = toks[toks.length - 1];
  if (Array.isArray(p)) p.splice(index(p, last, false), 1);
  else if (p && typeof p === 'object' && last in (p as object)) delete (p as Record<string, J>)[last];
  else throw new TypeError('path does not exist');
  return doc;
}

function deepEqual(a: J, b: J): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
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
        if (!deepEqual(get(doc, toks), value)) throw new TypeError('test failed');
        break;
      default:
        throw new TypeError(`unknown op ${String(op)}`);
    }
  }
  return doc;
}
