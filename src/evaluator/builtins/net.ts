/** net.cidr_is_valid, net.cidr_expand, net.cidr_merge and net.cidr_contains_matches over IPv4 and IPv6 (BigInt arithmetic). */
import { isRegoSet, regoSet } from '../host-bridge.js';

interface Net {
  v6: boolean;
  start: bigint;
  bits: number;
}

function parseIp(s: string): { v6: boolean; n: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const parts = s.split('.').map(Number);
    if (parts.some((p) => p > 255) || s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
    return { v6: false, n: parts.reduce((a, p) => (a << 8n) | BigInt(p), 0n) };
  }
  if (!s.includes(':')) return undefined;
  let head = s;
  let tail4: bigint | undefined;
  const v4 = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (v4) {
    const p = parseIp(v4[1]);
    if (!p) return undefined;
    tail4 = p.n;
    head = `${s.slice(0, v4.index)}:0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - left.length - right.length;
  if ((halves.length === 1 && missing !== 0) || missing < 0) return undefined;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  let n = groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (tail4 !== undefined) n = (n & ~0xffffffffn) | tail4;
  return { v6: true, n };
}

function parseCidr(s: unknown, requirePrefix: boolean): Net | undefined {
  if (typeof s !== 'string') return undefined;
  const [ip, prefix, extra] = s.split('/');
  if (extra !== undefined) return undefined;
  const p = parseIp(ip);
  if (!p) return undefined;
  const width = p.v6 ? 128 : 32;
  if (prefix === undefined) {
    if (requirePrefix) return undefined;
    if (p.v6) return { v6: true, start: p.n, bits: 128 };
    // Go's net.IP.DefaultMask: a bare IPv4 address gets its classful network (A /8, B /16, C /24).
    const first = Number(p.n >> 24n);
    const bits = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32;
    const mask = ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n);
    return { v6: false, start: p.n & mask, bits };
  }
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > width) return undefined;
  const bits = Number(prefix);
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
  return { v6: p.v6, start: p.n & mask, bits };
}

function formatIp(n: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - i * 16)) & 0xffffn));
  // Longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function cidrIsValid(s: unknown): boolean {
  return parseCidr(s, true) !== undefined;
}

/** Every address of a CIDR; refused beyond 65,536 addresses. */
export function cidrExpand(s: unknown): string[] {
  const n = parseCidr(s, true);
  if (!n) throw new TypeError('invalid CIDR');
  const width = n.v6 ? 128 : 32;
  const count = 1n << BigInt(width - n.bits);
  if (count > 65536n) throw new RangeError('CIDR too large to expand');
  const out: string[] = [];
  for (let i = 0n; i < count; i++) out.push(formatIp(n.start + i, n.v6));
  return out;
}

/** Smallest list of CIDRs covering the inputs (addresses or CIDRs), merging adjacent and contained ones. */
export function cidrMerge(xs: unknown): string[] {
  if (!Array.isArray(xs)) throw new TypeError('operand must be an array or set');
  const out: string[] = [];
  for (const v6 of [false, true]) {
    const width = v6 ? 128 : 32;
    const ranges: [bigint, bigint][] = [];
    for (const x of xs) {
      const n = parseCidr(x, v6);
      if (!n) {
        const ip = typeof x === 'string' ? parseIp(x.split('/')[0]) : undefined;
        if (ip && ip.v6 !== v6) continue;
        throw new TypeError(`invalid address or CIDR ${String(x)}`);
      }
      if (n.v6 !== v6) continue;
      ranges.push([n.start, n.start + (1n << BigInt(width - n.bits)) - 1n]);
    }
    ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: [bigint, bigint][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1n) {
        if (r[1] > last[1]) last[1] = r[1];
      } else merged.push([r[0], r[1]]);
    }
    for (const [lo, hi] of merged) {
      let start = lo;
      while (start <= hi) {
        let size = 0;
        while (size < width && (start & ((1n << BigInt(size + 1)) - 1n)) === 0n && start + (1n << BigInt(size + 1)) - 1n <= hi) size++;
        out.push(`${formatIp(start, v6)}/${width - size}`);
        start += 1n << BigInt(size);
      }
    }
  }
  return out;
}

/** OPA's net.cidr_contains: an IP or a CIDR inside a CIDR (same address family). */
function cidrContains(outer: string, inner: string): boolean {
  const a = parseCidr(outer, true);
  if (!a) throw new TypeError(`invalid CIDR ${outer}`);
  const width = a.v6 ? 128 : 32;
  const shift = BigInt(width - a.bits);
  const ip = parseIp(inner);
  if (ip) return ip.v6 === a.v6 && ip.n >> shift === a.start >> shift;
  const b = parseCidr(inner, true);
  if (!b) throw new TypeError(`invalid CIDR or IP ${inner}`);
  return b.v6 === a.v6 && b.bits >= a.bits && b.start >> shift === a.start >> shift;
}

/** (cidr, index) pairs of one operand: a string, an array of strings or [cidr, …] tuples, or an object of them. */
function cidrOperand(x: unknown): Array<[string, unknown]> {
  const one = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'string') return v[0];
    throw new TypeError('element must be string or non-empty array');
  };
  if (typeof x === 'string') return [[x, x]];
  // A set's members are their own index.
  if (isRegoSet(x)) return x.map((v) => [one(v), v]);
  if (Array.isArray(x)) return x.map((v, i) => [one(v), i]);
  if (x !== null && typeof x === 'object') return Object.entries(x).map(([k, v]) => [one(v), k]);
  throw new TypeError('operand must be string, array, set or object');
}

/**
 * net.cidr_contains_matches: the set of [index1, index2] where operand 1's
 * CIDR contains operand 2's IP or CIDR (index: array position, object key, or
 * the set member itself).
 */
export function cidrContainsMatches(a: unknown, b: unknown): unknown[] {
  const left = cidrOperand(a);
  const right = cidrOperand(b);
  const out: unknown[][] = [];
  const seen = new Set<string>();
  for (const [c1, i1] of left) {
    for (const [c2, i2] of right) {
      if (!cidrContains(c1, c2)) continue;
      const key = JSON.stringify([i1, i2]);
      if (!seen.has(key)) {
        seen.add(key);
        out.push([i1, i2]);
      }
    }
  }
  return regoSet(out);
}
