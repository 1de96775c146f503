/**
 * regex.* gaps under wasm, on JavaScript's engines with RE2 syntax translated
 * where the two differ: `(?P<name>` named groups, leading inline flags
 * `(?i)`, `(?s)`, `(?m)`, `\z` and `\A`.
 *
 * RE2 runs in linear time, and a decision point must not be stalled by one
 * input against one pattern (catastrophic backtracking). So a pattern runs on
 * V8's linear-time engine (the `l` flag) whenever that engine can run it, and
 * backreferences and lookaround, which RE2 rejects, are rejected here too
 * (the builtin fails, so the expression is undefined, as in OPA). The linear
 * engine has no case folding, so case-insensitive ASCII patterns are rewritten
 * first (foldCase). What still runs on the backtracking engine: patterns that
 * need Unicode mode (`\p{…}`, non-ASCII letters under `(?i)`). Differences
 * that remain: on the linear engine `.` and classes see UTF-16 code units, so
 * a character beyond the BMP counts as two; JS's `\s`/`\w`/`\b` follow
 * Unicode slightly differently.
 */
import v8 from 'node:v8';

// Allows the `l` (linear-time) flag; read when a RegExp is constructed.
v8.setFlagsFromString('--enable-experimental-regexp-engine');

const cache = new Map<string, RegExp>();

const BACKTRACKING_ONLY = /\\[1-9]|\\k<|\(\?[=!]|\(\?<[=!]/;

/** The simple case-fold partners of each ASCII letter (K and s have one beyond ASCII each). */
function foldsOf(cp: number): number[] {
  const c = String.fromCharCode(cp);
  if (!/[A-Za-z]/.test(c)) return [];
  const out = [(c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()).charCodeAt(0)];
  if (c === 'k' || c === 'K') out.push(0x212a); // KELVIN SIGN
  if (c === 's' || c === 'S') out.push(0x17f); // LATIN SMALL LETTER LONG S
  return out;
}

const hex4 = (cp: number) => `\\u${cp.toString(16).padStart(4, '0')}`;

/**
 * Rewrites a case-insensitive pattern of ASCII characters into an equivalent
 * case-sensitive one (letters become classes of their case-fold partners), so
 * it can run on the linear engine, which has no case folding. Returns
 * undefined for anything it does not handle; the caller then uses the
 * backtracking engine.
 */
export function foldCase(src: string): string | undefined {
  if ([...src].some((ch) => ch.charCodeAt(0) > 0x7f) || /\\[pPuxck]/.test(src)) return undefined;
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\') {
      out += src.slice(i, i + 2);
      i += 2;
    } else if (c === '(' && src.startsWith('(?<', i)) {
      const end = src.indexOf('>', i);
      if (end < 0) return undefined;
      out += src.slice(i, end + 1);
      i = end + 1;
    } else if (c === '[') {
      // A class: keep its items, add the partners of every letter it covers.
      let j = i + 1;
      let head = '[';
      if (src[j] === '^') {
        head += '^';
        j++;
      }
      if (src[j] === ']') return undefined; // "[]…" / "[^]…": leave to the backtracking engine
      const items: string[] = [];
      const ranges: Array<[number, number]> = [];
      while (j < src.length && src[j] !== ']') {
        let lo: number;
        if (src[j] === '\\') {
          const e = src[j + 1];
          if (e === undefined) return undefined;
          if (/[dDwWsSbB]/.test(e)) {
            items.push(src.slice(j, j + 2));
            j += 2;
            continue;
          }
          lo = e === 'n' ? 10 : e === 't' ? 9 : e === 'r' ? 13 : e === 'f' ? 12 : e === 'v' ? 11 : e.charCodeAt(0);
          j += 2;
        } else {
          lo = src.charCodeAt(j);
          j++;
        }
        let hi = lo;
        if (src[j] === '-' && src[j + 1] !== undefined && src[j + 1] !== ']') {
          if (src[j + 1] === '\\') {
            const e = src[j + 2];
            if (e === undefined || /[dDwWsSbBnrtfv]/.test(e)) return undefined;
            hi = e.charCodeAt(0);
            j += 3;
          } else {
            hi = src.charCodeAt(j + 1);
            j += 2;
          }
        }
        if (hi < lo) return undefined;
        ranges.push([lo, hi]);
        items.push(lo === hi ? hex4(lo) : `${hex4(lo)}-${hex4(hi)}`);
      }
      if (j >= src.length) return undefined;
      const extra: string[] = [];
      for (const [lo, hi] of ranges) {
        for (let cp = Math.max(lo, 0x41); cp <= Math.min(hi, 0x7a); cp++) for (const f of foldsOf(cp)) extra.push(hex4(f));
      }
      out += `${head}${items.join('')}${extra.join('')}]`;
      i = j + 1;
    } else {
      const folds = foldsOf(src.charCodeAt(i));
      out += folds.length > 0 ? `[${c}${folds.map(hex4).join('')}]` : c;
      i++;
    }
  }
  return out;
}

/** Compiles translated source: linear-time when possible, else (Unicode classes and the like) backtracking. */
export function compileRegExp(src: string, flags: string): RegExp {
  if (BACKTRACKING_ONLY.test(src)) throw new SyntaxError('backreferences and lookaround are not supported (RE2 syntax)');
  const folded = flags.includes('i') ? foldCase(src) : src;
  if (folded !== undefined) {
    try {
      return new RegExp(folded, `l${flags.replace('i', '')}`);
    } catch {
      // not runnable in linear time or not valid without Unicode mode: try Unicode mode
    }
  }
  return new RegExp(src, `u${flags}`);
}

export function toJsRegExp(pattern: string, extraFlags = ''): RegExp {
  const key = `${extraFlags}\0${pattern}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let src = pattern;
  let flags = extraFlags;
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    src = src.slice(lead[0].length);
    for (const f of lead[1]) if (!flags.includes(f)) flags += f;
  }
  src = src.replace(/\(\?P</g, '(?<');
  if (/\\[Az]/.test(src)) {
    // Without multi-line mode, ^ and $ already mean start and end of the text.
    if (flags.includes('m')) throw new SyntaxError('\\A and \\z in multi-line mode are not supported');
    src = src.replace(/\\z/g, '$').replace(/\\A/g, '^');
  }
  const re = compileRegExp(src, flags);
  if (cache.size > 1000) cache.clear();
  cache.set(key, re);
  return re;
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  return v;
}

/** regex.replace(s, pattern, value): every match replaced; `$1`, `${1}`, `${name}` expand as in Go. */
export function regexReplace(s: unknown, pattern: unknown, value: unknown): string {
  const re = toJsRegExp(str(pattern), 'g');
  const repl = str(value).replace(/\$\{(\d+)\}/g, '$$$1').replace(/\$\{([A-Za-z_]\w*)\}/g, '$$<$1>');
  return str(s).replace(re, repl);
}

/** regex.find_n(pattern, s, n): up to n matches (-1: all). */
export function regexFindN(pattern: unknown, s: unknown, n: unknown): string[] {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError('n must be an integer');
  const out: string[] = [];
  if (n === 0) return out;
  for (const m of str(s).matchAll(toJsRegExp(str(pattern), 'g'))) {
    out.push(m[0]);
    if (n > 0 && out.length >= n) break;
  }
  return out;
}

// ---- regex.globs_match: do two simple patterns (literals, `.`, `[...]`, `\x`, and the
// quantifiers `*`, `+`, `?`) match at least one common string?

type Ranges = Array<[number, number]>;
interface GlobToken {
  set: Ranges;
  star: boolean;
  optional: boolean;
}

const MAX_CP = 0x10ffff;

function complement(r: Ranges): Ranges {
  const sorted = [...r].sort((a, b) => a[0] - b[0]);
  const out: Ranges = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_CP) out.push([next, MAX_CP]);
  return out;
}

function parseGlob(p: string): GlobToken[] {
  const cps = [...p].map((c) => c.codePointAt(0)!);
  const toks: GlobToken[] = [];
  const bad = (pos: number, why: string): never => {
    throw new TypeError(`input:${p}, pos:${pos}, ${why}: the input provided is invalid`);
  };
  for (let i = 0; i < cps.length; i++) {
    const c = String.fromCodePoint(cps[i]);
    let set: Ranges;
    if (c === '.') set = [[0, MAX_CP]];
    else if (c === '\\') {
      if (i + 1 >= cps.length) bad(i + 1, 'escape at end of input');
      i++;
      set = [[cps[i], cps[i]]];
    } else if (c === '[') {
      const start = i;
      i++;
      let negate = false;
      if (cps[i] === 0x5e) {
        negate = true;
        i++;
      }
      const ranges: Ranges = [];
      while (i < cps.length && cps[i] !== 0x5d) {
        let lo = cps[i];
        if (lo === 0x5c) lo = cps[++i];
        let hi = lo;
        if (cps[i + 1] === 0x2d && i + 2 < cps.length && cps[i + 2] !== 0x5d) {
          i += 2;
          hi = cps[i] === 0x5c ? cps[++i] : cps[i];
        }
        ranges.push([lo, hi]);
        i++;
      }
      if (i >= cps.length) bad(start + 1, "set-open '[' with no closing ']'");
      set = negate ? complement(ranges) : ranges;
    } else if (c === ']') {
      return bad(i + 1, "set-close ']' with no preceding '['");
    } else if (c === '*' || c === '+' || c === '?') {
      return bad(i + 1, `quantifier '${c}' with nothing to repeat`);
    } else set = [[cps[i], cps[i]]];
    const q = cps[i + 1] !== undefined ? String.fromCodePoint(cps[i + 1]) : '';
    if (q === '*' || q === '?') {
      toks.push({ set, star: q === '*', optional: true });
      i++;
    } else if (q === '+') {
      toks.push({ set, star: false, optional: false }, { set, star: true, optional: true });
      i++;
    } else toks.push({ set, star: false, optional: false });
  }
  return toks;
}

function overlap(a: Ranges, b: Ranges): boolean {
  return a.some(([l1, h1]) => b.some(([l2, h2]) => l1 <= h2 && l2 <= h1));
}

export function regexGlobsMatch(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') throw new TypeError('operands must be strings');
  const x = parseGlob(a);
  const y = parseGlob(b);
  // Breadth-first search over pairs of positions; skipping an optional token is an epsilon move.
  const seen = new Set<number>();
  const queue: Array<[number, number]> = [[0, 0]];
  const W = y.length + 1;
  while (queue.length > 0) {
    const [i, j] = queue.pop()!;
    if (seen.has(i * W + j)) continue;
    seen.add(i * W + j);
    if (i === x.length && j === y.length) return true;
    if (i < x.length && x[i].optional) queue.push([i + 1, j]);
    if (j < y.length && y[j].optional) queue.push([i, j + 1]);
    if (i < x.length && j < y.length && overlap(x[i].set, y[j].set)) {
      const ni = x[i].star ? i : i + 1;
      const nj = y[j].star ? j : j + 1;
      queue.push([ni, nj], [x[i].star ? i + 1 : ni, nj], [ni, y[j].star ? j + 1 : nj]);
    }
  }
  return false;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** regex.template_match: text outside the delimiters matches literally, text inside as a regular expression. */
export function regexTemplateMatch(template: unknown, value: unknown, start: unknown, end: unknown): boolean {
  if (typeof template !== 'string' || typeof value !== 'string' || typeof start !== 'string' || typeof end !== 'string' || !start || !end) {
    throw new TypeError('operands must be strings');
  }
  let pattern = '^';
  let i = 0;
  while (i < template.length) {
    const s = template.indexOf(start, i);
    if (s < 0) {
      pattern += escapeRegExp(template.slice(i));
      break;
    }
    const e = template.indexOf(end, s + start.length);
    if (e < 0) throw new TypeError(`unbalanced delimiters in template ${template}`);
    pattern += escapeRegExp(template.slice(i, s)) + `(?:${toJsRegExp(template.slice(s + start.length, e)).source})`;
    i = e + end.length;
  }
  return compileRegExp(`${pattern}$`, '').test(value);
}
