/**
 * Go-compatible `sprintf` for Rego under wasm. The npm SDK ships sprintf-js,
 * which prints `%v` of an array as `a,b` and of an object as `[object Object]`
 * and throws on `%q` ("unexpected placeholder"); OPA itself formats with Go's
 * fmt over its AST values. This implements the verbs OPA policies use, formatting composite
 * values the way OPA prints them (`["a", "b"]`, `{"k": 1}`).
 */

import { isRegoSet } from './host-bridge.js';

/** Formats a value the way OPA's `%v` prints an AST term. */
function regoString(v: unknown, top = true): string {
  if (typeof v === 'string') return top ? v : JSON.stringify(v);
  if (v === null) return 'null';
  if (isRegoSet(v)) return v.length === 0 ? 'set()' : `{${v.map((x) => regoString(x, false)).join(', ')}}`;
  if (Array.isArray(v)) return `[${v.map((x) => regoString(x, false)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(
      ([k, x]) => `${JSON.stringify(k)}: ${regoString(x, false)}`,
    );
    return `{${entries.join(', ')}}`;
  }
  return String(v);
}

function pad(s: string, width: number | undefined, left: boolean, zero: boolean): string {
  if (width === undefined || s.length >= width) return s;
  if (left) return s.padEnd(width, ' ');
  if (zero && /^[+-]?\d/.test(s)) {
    const sign = /^[+-]/.test(s) ? s[0] : '';
    return sign + s.slice(sign.length).padStart(width - sign.length, '0');
  }
  return s.padStart(width, ' ');
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

const VERB = /%([-+ 0#]*)(\d+)?(?:\.(\d+))?([vsdqftxXobeEgT%])/g;

/** `sprintf(format, args)` with Go fmt semantics for the common verbs. */
export function goSprintf(format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(VERB, (_m, flags: string, w?: string, p?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    const a = args[i++];
    const width = w === undefined ? undefined : Number(w);
    const prec = p === undefined ? undefined : Number(p);
    const left = flags.includes('-');
    const zero = flags.includes('0');
    const plus = flags.includes('+');
    let out: string;
    const n = num(a);
    switch (verb) {
      case 'v':
      case 's':
        out = regoString(a);
        if (verb === 's' && prec !== undefined) out = out.slice(0, prec);
        break;
      case 'q':
        out = typeof a === 'string' ? JSON.stringify(a) : `%!q(${regoString(a)})`;
        break;
      case 'T':
        out = Array.isArray(a) ? 'array' : a === null ? 'null' : typeof a === 'bigint' ? 'number' : typeof a;
        break;
      case 'd':
        out = typeof a === 'bigint' || (n !== undefined && Number.isInteger(n)) ? String(a) : `%!d(${regoString(a)})`;
        break;
      case 'f':
        out = n !== undefined ? n.toFixed(prec ?? 6) : `%!f(${regoString(a)})`;
        break;
      case 'e':
      case 'E': {
        const s = n !== undefined ? n.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2') : `%!e(${regoString(a)})`;
        out = verb === 'E' ? s.toUpperCase() : s;
        break;
      }
      case 'g':
        out = n !== undefined ? (prec !== undefined ? String(Number(n.toPrecision(prec))) : String(n)) : `%!g(${regoString(a)})`;
        break;
      case 't':
        out = typeof a === 'boolean' ? String(a) : `%!t(${regoString(a)})`;
        break;
      case 'x':
      case 'X': {
        let s: string;
        if (typeof a === 'string') s = Buffer.from(a, 'utf8').toString('hex');
        else if (n !== undefined && Number.isInteger(n)) s = (n < 0 ? '-' : '') + Math.abs(n).toString(16);
        else s = `%!${verb}(${regoString(a)})`;
        out = verb === 'X' ? s.toUpperCase() : s;
        break;
      }
      case 'o':
        out = n !== undefined && Number.isInteger(n) ? n.toString(8) : `%!o(${regoString(a)})`;
        break;
      case 'b':
        out = n !== undefined && Number.isInteger(n) ? n.toString(2) : `%!b(${regoString(a)})`;
        break;
      default:
        out = regoString(a);
    }
    if (plus && ((n !== undefined && n >= 0) || (typeof a === 'bigint' && a >= 0n)) && 'dfeEg'.includes(verb ?? '')) out = `+${out}`;
    return pad(out, width, left, zero);
  }) + (i < args.length ? `%!(EXTRA ${args.slice(i).map((a) => regoString(a)).join(', ')})` : '');
}
