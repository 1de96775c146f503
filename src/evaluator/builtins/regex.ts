/**
 * regex.* gaps under wasm, on JavaScript's engine with RE2 syntax translated
 * where the two differ: `(?P<name>` named groups, leading inline flags
 * `(?i)`, `(?s)`, `(?m)`, `\z` and `\A`. Differences that remain: JS allows
 * backreferences and lookaround that RE2 rejects (such patterns compile here
 * but not in OPA), and JS's `\s`/`\w`/`\b` follow Unicode slightly differently.
 */

const cache = new Map<string, RegExp>();

export function toJsRegExp(pattern: string, extraFlags = ''): RegExp {
  const key = `${extraFlags}\0${pattern}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let src = pattern;
  let flags = 'u' + extraFlags;
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    src = src.slice(lead[0].length);
    for (const f of lead[1]) if (!flags.includes(f)) flags += f;
  }
  src = src.replace(/\(\?P</g, '(?<').replace(/\\z/g, '$(?![\\s\\S])').replace(/\\A/g, '^(?<![\\s\\S])');
  const re = new RegExp(src, flags);
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
