/**
 * object.subset with OPA's rules: objects recursively (each sub key present
 * and equal, or itself a subset), sets by membership, arrays as a contiguous
 * run, and an array super with a set sub by membership.
 */
import { isRegoSet } from '../host-bridge.js';

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/** Rego equality: a set never equals an array. */
export function regoEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (isRegoSet(a) !== isRegoSet(b) || a.length !== b.length) return false;
    if (isRegoSet(a)) return a.every((x) => b.some((y) => regoEqual(x, y)));
    return a.every((x, i) => regoEqual(x, b[i]));
  }
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && regoEqual(a[k], b[k]));
  }
  return false;
}

function setSubset(sup: unknown[], sub: unknown[]): boolean {
  return sub.every((x) => sup.some((y) => regoEqual(x, y)));
}

function arraySubset(sup: unknown[], sub: unknown[]): boolean {
  if (sub.length > sup.length) return false;
  for (let start = 0; start + sub.length <= sup.length; start++) {
    if (sub.every((x, i) => regoEqual(sup[start + i], x))) return true;
  }
  return false;
}

function objectSubset(sup: Obj, sub: Obj): boolean {
  return Object.keys(sub).every((k) => {
    // Own keys only: a key named like an Object.prototype member is an ordinary key.
    if (!Object.hasOwn(sup, k)) return false;
    const a = sup[k];
    const b = sub[k];
    if (regoEqual(a, b)) return true;
    if (isObj(a) && isObj(b)) return objectSubset(a, b);
    if (isRegoSet(a) && isRegoSet(b)) return setSubset(a, b);
    if (Array.isArray(a) && Array.isArray(b) && !isRegoSet(a) && !isRegoSet(b)) return arraySubset(a, b);
    return false;
  });
}

export function objectSubsetBuiltin(sup: unknown, sub: unknown): boolean {
  if (isObj(sup) && isObj(sub)) return objectSubset(sup, sub);
  if (isRegoSet(sup) && isRegoSet(sub)) return setSubset(sup, sub);
  if (Array.isArray(sup) && !isRegoSet(sup)) {
    if (isRegoSet(sub)) return setSubset(sup, sub);
    if (Array.isArray(sub)) return arraySubset(sup, sub);
  }
  throw new TypeError('both arguments object.subset must be of the same type or array and set');
}
