/**
 * regex.* builtins that OPA's wasm runtime leaves to the host (find_n, replace,
 * split, template_match, globs_match). Every pattern goes through re2.ts, so
 * these builtins have RE2's syntax, meaning and linear-time matching; a pattern
 * RE2 refuses makes the builtin fail (undefined), as in OPA.
 */
import { compileRe2, re2FindAll, re2QuoteMeta, re2ReplaceAll, re2Split, re2Test } from './re2.js';

function str(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  return v;
}

/** regex.replace(s, pattern, value): every match replaced; `$1`, `${1}`, `$name`, `${name}` expand as in Go. */
export function regexReplace(s: unknown, pattern: unknown, value: unknown): string {
  return re2ReplaceAll(str(s), str(pattern), str(value));
}

/** regex.find_n(pattern, s, n): up to n matches (-1: all). */
export function regexFindN(pattern: unknown, s: unknown, n: unknown): string[] {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError('n must be an integer');
  const text = str(s);
  return re2FindAll(str(pattern), text, n).map(([start, end]) => text.slice(start, end));
}

/** regex.split(pattern, s): replaces the SDK's, which is a JavaScript RegExp (other syntax, backtracking). */
export function regexSplit(pattern: unknown, s: unknown): string[] {
  return re2Split(str(pattern), str(s));
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

/** Start and end (exclusive) of each outermost delimited section, as OPA's delimiterIndices; throws when unbalanced. */
function delimited(t: string, open: number, close: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let level = 0;
  let from = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === open) {
      if (++level === 1) from = i;
    } else if (c === close) {
      if (--level === 0) out.push([from, i + 1]);
      else if (level < 0) throw new TypeError(`unbalanced braces in ${JSON.stringify(t)}`);
    }
  }
  if (level !== 0) throw new TypeError(`unbalanced braces in ${JSON.stringify(t)}`);
  return out;
}

/**
 * regex.template_match: text outside the delimiters matches literally, text
 * inside (outermost pair, nesting counted) as an RE2 group, as OPA builds it.
 */
export function regexTemplateMatch(template: unknown, value: unknown, start: unknown, end: unknown): boolean {
  const t = str(template);
  const [open, close] = [str(start), str(end)];
  // OPA takes one byte per delimiter; a byte that ASCII-decodes is one UTF-16 unit too.
  if (Buffer.byteLength(open) !== 1 || Buffer.byteLength(close) !== 1) throw new TypeError('delimiters must be exactly one byte long');
  let pattern = '^';
  let last = 0;
  for (const [from, to] of delimited(t, open.charCodeAt(0), close.charCodeAt(0))) {
    const inner = t.slice(from + 1, to - 1);
    compileRe2(`^${inner}$`); // each variable must be a pattern of its own, as OPA checks
    pattern += `${re2QuoteMeta(t.slice(last, from))}(${inner})`;
    last = to;
  }
  return re2Test(`${pattern}${re2QuoteMeta(t.slice(last))}$`, str(value));
}
