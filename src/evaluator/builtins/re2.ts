/**
 * The one regular-expression engine for every pattern a policy or its input
 * supplies to host code: re2js, a JavaScript port of RE2 (Go's regexp), so the
 * syntax and meaning are Rego's own (`\p{Cf}`, `\pL`, `[[:alpha:]]`, `\Q…\E`,
 * `(?i)` with Unicode simple folding, `(?P<name>…)`, `\z`), and matching runs
 * in time linear in the input whatever the pattern. Nothing here falls back to
 * V8's backtracking engine: a pattern RE2 refuses (backreferences, lookaround,
 * a repeat count above 1000) is an error, so the builtin is undefined, as in OPA.
 *
 * The match loops below follow Go's regexp package (FindAll, ReplaceAll,
 * Split, Expand) on top of re2js's Matcher, because JavaScript's own loops
 * treat an empty match right after another match differently.
 */
import { RE2JS, type Matcher } from 're2js';

/** A compiled pattern and its group names (Go allows a name twice; re2js does not, see uniqueNames). */
interface Compiled {
  re: RE2JS;
  /** Group indices of each name, in pattern order. */
  names: Map<string, number[]>;
}

/** Compiled patterns kept for reuse; bounded so hostile inputs cannot grow it without limit. */
const CACHE_LIMIT = 512;
const cache = new Map<string, Compiled>();

/** Index just past the character class that opens at i (`[…]`, POSIX `[:name:]` and escapes inside). */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  while (j < p.length && p[j] !== ']') {
    if (p[j] === '\\') j += 2;
    else if (p.startsWith('[:', j)) {
      const e = p.indexOf(':]', j + 2);
      j = e < 0 ? j + 1 : e + 2;
    } else j++;
  }
  return j + 1;
}

/**
 * Go's regexp accepts a group name used twice, re2js refuses it: the second and later
 * uses are renamed to fresh names before compiling (`aliases` maps them back), so
 * `names` keeps every index of the original name. Other patterns are left unchanged.
 */
function uniqueNames(p: string): { source: string; aliases: Map<string, string> } {
  const aliases = new Map<string, string>();
  if (!p.includes('<')) return { source: p, aliases };
  const spans: Array<{ at: number; name: string }> = [];
  for (let i = 0; i < p.length; ) {
    if (p[i] === '\\') {
      if (p[i + 1] === 'Q') {
        const e = p.indexOf('\\E', i + 2);
        i = e < 0 ? p.length : e + 2;
      } else i += 2;
    } else if (p[i] === '[') i = classEnd(p, i);
    else {
      const m = p[i] === '(' ? /^\(\?P?<([A-Za-z0-9_]+)>/.exec(p.slice(i, i + 256)) : null;
      if (m) spans.push({ at: i + m[0].indexOf('<') + 1, name: m[1] });
      i++;
    }
  }
  const all = new Set(spans.map((x) => x.name));
  if (all.size === spans.length) return { source: p, aliases };
  const seen = new Set<string>();
  let out = '';
  let last = 0;
  let k = 0;
  for (const { at, name } of spans) {
    if (!seen.has(name)) {
      seen.add(name);
      continue;
    }
    let fresh: string;
    do fresh = `${name}_${++k}`;
    while (all.has(fresh));
    all.add(fresh);
    aliases.set(fresh, name);
    out += p.slice(last, at) + fresh;
    last = at + name.length;
  }
  return { source: out + p.slice(last), aliases };
}

function compile(pattern: string): Compiled {
  const { source, aliases } = uniqueNames(pattern);
  const re = RE2JS.compile(source);
  const names = new Map<string, number[]>();
  for (const [n, idx] of Object.entries(re.namedGroups()).sort((a, b) => a[1] - b[1])) {
    const original = aliases.get(n) ?? n;
    names.set(original, [...(names.get(original) ?? []), idx]);
  }
  return { re, names };
}

function compiled(pattern: string): Compiled {
  const hit = cache.get(pattern);
  if (hit) {
    cache.delete(pattern);
    cache.set(pattern, hit);
    return hit;
  }
  const c = compile(pattern);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, c);
  return c;
}

/** Compiles an RE2 pattern (cached, least recently used evicted first). Throws on a pattern RE2 refuses. */
export function compileRe2(pattern: string): RE2JS {
  return compiled(pattern).re;
}

/** Whether the pattern matches anywhere in s (Go's MatchString). */
export function re2Test(pattern: string, s: string): boolean {
  return compileRe2(pattern).test(s);
}

/** Group offsets of one match, in UTF-16 units: [start0, end0, start1, end1, …], -1 for a group that did not take part. */
type Groups = number[];

function groupsOf(m: Matcher, count: number): Groups {
  const out: Groups = [];
  for (let g = 0; g <= count; g++) out.push(m.start(g), m.end(g));
  return out;
}

/** Width of the character at i, in UTF-16 units (a surrogate pair is one character, as one rune in Go). */
function widthAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
}

/**
 * Up to n successive non-overlapping matches (n < 0: all), as Go's allMatches:
 * an empty match right after the previous match is skipped, and the search
 * always sees the whole input, so `^` and `\b` keep their context.
 */
export function re2FindAll(pattern: string, s: string, n: number, withGroups = false): Groups[] {
  const re = compileRe2(pattern);
  const limit = n < 0 ? s.length + 1 : n;
  const count = withGroups ? re.groupCount() : 0;
  const m = re.matcher(s);
  const out: Groups[] = [];
  let pos = 0;
  let prevEnd = -1;
  while (out.length < limit && pos <= s.length && m.find(pos)) {
    const start = m.start();
    const end = m.end();
    let accept = true;
    if (end === pos) {
      // An empty match here: never right after the previous match; move on one character.
      if (start === prevEnd) accept = false;
      pos += pos < s.length ? widthAt(s, pos) : 1;
    } else {
      pos = end;
    }
    prevEnd = end;
    if (accept) out.push(withGroups ? groupsOf(m, count) : [start, end]);
  }
  return out;
}

const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

/**
 * Reads a `$` reference after the `$` (Go's regexp template): `name`, `{name}`,
 * or a number; undefined when malformed, and then the `$` is literal text.
 */
function reference(t: string): { name: string; num: number; rest: string } | undefined {
  let i = 0;
  const brace = t.startsWith('{');
  if (brace) i = 1;
  const from = i;
  for (const ch of t.slice(from)) {
    if (!NAME_CHAR.test(ch)) break;
    i += ch.length;
  }
  if (i === from) return undefined;
  const name = t.slice(from, i);
  if (brace) {
    if (t[i] !== '}') return undefined;
    i++;
  }
  let num = /^\d+$/.test(name) && name.length <= 8 ? Number(name) : -1;
  if (name.length > 1 && name.startsWith('0')) num = -1;
  return { name, num, rest: t.slice(i) };
}

/** Expands a replacement template for one match as Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`. */
function expand(template: string, s: string, g: Groups, names: Map<string, number[]>): string {
  let out = '';
  let t = template;
  for (let at = t.indexOf('$'); at >= 0; at = t.indexOf('$')) {
    out += t.slice(0, at);
    t = t.slice(at + 1);
    if (t.startsWith('$')) {
      out += '$';
      t = t.slice(1);
      continue;
    }
    const ref = reference(t);
    if (!ref) {
      out += '$';
      continue;
    }
    t = ref.rest;
    // A number is that group; a name is the first group of that name that took part in the match.
    const candidates = ref.num >= 0 ? [ref.num] : (names.get(ref.name) ?? []);
    const idx = candidates.find((i) => 2 * i + 1 < g.length && g[2 * i] >= 0);
    if (idx !== undefined) out += s.slice(g[2 * idx], g[2 * idx + 1]);
  }
  return out + t;
}

/** Every match replaced by the expanded template (Go's ReplaceAllString). */
export function re2ReplaceAll(s: string, pattern: string, template: string): string {
  const matches = re2FindAll(pattern, s, -1, template.includes('$'));
  if (matches.length === 0) return s;
  const { names } = compiled(pattern);
  let out = '';
  let last = 0;
  for (const g of matches) {
    out += s.slice(last, g[0]) + expand(template, s, g, names);
    last = g[1];
  }
  return out + s.slice(last);
}

/** The text around every match (Go's Split with n = -1). */
export function re2Split(pattern: string, s: string): string[] {
  compileRe2(pattern); // an invalid pattern fails even on empty input
  if (pattern.length > 0 && s.length === 0) return [''];
  const out: string[] = [];
  let begin = 0;
  let end = 0;
  for (const [start, stop] of re2FindAll(pattern, s, -1)) {
    end = start;
    if (stop !== 0) out.push(s.slice(begin, end));
    begin = stop;
  }
  if (end !== s.length) out.push(s.slice(begin));
  return out;
}

/** Escapes every RE2 metacharacter (Go's regexp.QuoteMeta). */
export function re2QuoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}
