import { createHash } from 'node:crypto';
import { goSprintf } from './sprintf.js';

/** Per-evaluation facts host builtins may read; fixed for one decision. */
export interface EvalContext {
  /** Request time in nanoseconds since the epoch (what `time.now_ns` returns). */
  nowNs: number;
}

type HostFn = (ctx: EvalContext, ...args: unknown[]) => unknown;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses RFC 3339 into nanoseconds; undefined when malformed (OPA: error -> undefined). */
export function parseRfc3339Ns(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const ms = Date.parse(value.replace(/\.\d+/, ''));
  if (Number.isNaN(ms)) return undefined;
  const frac = m[7] ? Number((m[7].slice(1) + '000000000').slice(0, 9)) : 0;
  return ms * 1e6 + frac;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  return v;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new TypeError('operand must be a string or array of strings');
}

function digest(alg: string) {
  return (_ctx: EvalContext, s: unknown) => createHash(alg).update(str(s), 'utf8').digest('hex');
}

/**
 * Builtins toolgate implements in the host because neither OPA's wasm runtime
 * nor the npm SDK does. Every entry must be deterministic given its arguments
 * and the EvalContext. The capabilities file handed to `opa build` is generated
 * from these names, so anything listed here compiles and anything else fails at
 * build time.
 */
export const HOST_BUILTINS: Readonly<Record<string, HostFn>> = {
  // Replaces the SDK's sprintf (sprintf-js), which has no %v or %q: see sprintf.ts.
  sprintf: (_ctx, format, args) => {
    if (!Array.isArray(args)) throw new TypeError('sprintf: operand 2 must be an array');
    return goSprintf(str(format), args);
  },
  'time.now_ns': (ctx) => ctx.nowNs,
  'time.parse_rfc3339_ns': (_ctx, s) => parseRfc3339Ns(s),
  'crypto.md5': digest('md5'),
  'crypto.sha1': digest('sha1'),
  'crypto.sha256': digest('sha256'),
  'hex.encode': (_ctx, s) => Buffer.from(str(s), 'utf8').toString('hex'),
  'hex.decode': (_ctx, s) => {
    const h = str(s);
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(h)) throw new TypeError('invalid hex');
    return Buffer.from(h, 'hex').toString('utf8');
  },
  'strings.any_prefix_match': (_ctx, s, p) => {
    const xs = strings(s);
    const ps = strings(p);
    return xs.some((x) => ps.some((q) => x.startsWith(q)));
  },
  'strings.any_suffix_match': (_ctx, s, p) => {
    const xs = strings(s);
    const ps = strings(p);
    return xs.some((x) => ps.some((q) => x.endsWith(q)));
  },
  'strings.count': (_ctx, s, sub) => {
    const hay = str(s);
    const needle = str(sub);
    if (needle === '') return [...hay].length + 1;
    return hay.split(needle).length - 1;
  },
};

/**
 * Binds the host builtins to one evaluation-context slot, in the shape the SDK
 * expects (`{name: (...args) => result}`). A builtin that throws yields
 * `undefined`, which the wasm ABI treats as an undefined expression: OPA's
 * non-strict builtin-error semantics.
 */
export function bindHostBuiltins(
  current: () => EvalContext,
): Record<string, (...args: unknown[]) => unknown> {
  const bound: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [name, fn] of Object.entries(HOST_BUILTINS)) {
    bound[name] = (...args: unknown[]) => {
      try {
        return fn(current(), ...args);
      } catch {
        return undefined;
      }
    };
  }
  return bound;
}
