/**
 * strings.render_template: the part of Go's text/template that policies use,
 * written from its documentation: `{{.field.sub}}`, variables (`$x := …`,
 * `$`), pipelines with `|`, `if`/`else if`/`else`, `range` (with `$i, $v :=`
 * and `else`), `with`, comments, `{{-`/`-}}` trimming, and the functions
 * and, or, not, len, index, eq, ne, lt, le, gt, ge, print, printf, println.
 * Values print as Go's fmt prints what OPA hands text/template (numbers as
 * written, arrays `[a b]`, objects `map[k:v]`); a missing key prints
 * `<undefined>`, as OPA does.
 */
import { goSprintf } from '../sprintf.js';

class TemplateError extends Error {}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with'; pipe: Pipe; then: Node[]; else: Node[] }
  | { kind: 'range'; pipe: Pipe; then: Node[]; else: Node[] };

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
}

type Arg =
  | { t: 'field'; base: 'dot' | string; path: string[] }
  | { t: 'lit'; v: unknown }
  | { t: 'ident'; name: string }
  | { t: 'sub'; pipe: Pipe };

const MISSING = Symbol('missing');

// ---------------------------------------------------------------- lexing

interface Action {
  text: string;
}

function split(src: string): Array<string | Action> {
  const out: Array<string | Action> = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src.startsWith('- ', start) || src.startsWith('-\t', start) || src.startsWith('-\n', start)) {
      text = text.trimEnd(); // same characters as \s, without /\s+$/'s quadratic backtracking
      start += 1;
    }
    out.push(text);
    let close = start;
    let inStr: string | undefined;
    for (; close < src.length; close++) {
      const c = src[close];
      if (inStr) {
        if (c === '\\' && inStr === '"') close++;
        else if (c === inStr) inStr = undefined;
      } else if (c === '"' || c === '`' || c === "'") inStr = c;
      else if (src.startsWith('}}', close)) break;
    }
    if (close >= src.length) throw new TemplateError('unclosed action');
    let body = src.slice(start, close);
    i = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(i))!;
      i += m[0].length;
    }
    out.push({ text: body.trim() });
  }
  return out;
}

function tokens(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c) j += s[j] === '\\' && c !== '`' ? 2 : 1;
      out.push(s.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if ('()|,'.includes(c)) {
      out.push(c);
      i++;
      continue;
    }
    if (s.startsWith(':=', i)) {
      out.push(':=');
      i += 2;
      continue;
    }
    if (c === '=') {
      out.push('=');
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && !/[\s()|,]/.test(s[j]) && !s.startsWith(':=', j) && s[j] !== '=') j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------- parsing

function parsePipe(src: string): Pipe {
  const toks = tokens(src);
  const pipe: Pipe = { decl: [], assign: false, cmds: [] };
  const declEnd = toks.findIndex((t) => t === ':=' || t === '=');
  let k = 0;
  if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t === ',' || t.startsWith('$'))) {
    pipe.decl = toks.slice(0, declEnd).filter((t) => t !== ',');
    pipe.assign = toks[declEnd] === '=';
    k = declEnd + 1;
  }
  const parseArgs = (end: string | undefined): Arg[][] => {
    const cmds: Arg[][] = [[]];
    while (k < toks.length && toks[k] !== end) {
      const t = toks[k++];
      if (t === '|') {
        cmds.push([]);
        continue;
      }
      if (t === '(') {
        const inner = parseArgs(')');
        k++; // ')'
        cmds[cmds.length - 1].push({ t: 'sub', pipe: { decl: [], assign: false, cmds: inner } });
        continue;
      }
      cmds[cmds.length - 1].push(operand(t));
    }
    if (cmds.some((c) => c.length === 0)) throw new TemplateError('missing command in pipeline');
    return cmds;
  };
  pipe.cmds = parseArgs(undefined);
  return pipe;
}

function operand(t: string): Arg {
  if (t === '.') return { t: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { t: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...path] = t.split('.');
    return { t: 'field', base: name, path };
  }
  if (t.startsWith('"')) return { t: 'lit', v: JSON.parse(t) as string };
  if (t.startsWith('`')) return { t: 'lit', v: t.slice(1, -1) };
  if (t.startsWith("'")) return { t: 'lit', v: (JSON.parse(`"${t.slice(1, -1)}"`) as string).codePointAt(0) };
  if (t === 'true' || t === 'false') return { t: 'lit', v: t === 'true' };
  if (t === 'nil') return { t: 'lit', v: null };
  if (/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^0x[0-9a-fA-F]+$/.test(t)) return { t: 'lit', v: Number(t) };
  if (/^[A-Za-z_]\w*$/.test(t)) return { t: 'ident', name: t };
  throw new TemplateError(`unexpected "${t}" in operand`);
}

function parse(src: string): Node[] {
  const parts = split(src);
  let i = 0;
  const block = (stops: string[]): { nodes: Node[]; stop: string; rest: string } => {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const p = parts[i++];
      if (typeof p === 'string') {
        if (p) nodes.push({ kind: 'text', text: p });
        continue;
      }
      const a = p.text;
      if (a.startsWith('/*')) continue;
      const word = /^(\w+)\b\s*(.*)$/s.exec(a);
      const kw = word?.[1];
      if (kw && stops.includes(kw)) return { nodes, stop: kw, rest: word![2] };
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        nodes.push(control(kw, word![2]));
        continue;
      }
      if (kw === 'end' || kw === 'else') throw new TemplateError(`unexpected {{${kw}}}`);
      if (kw === 'define' || kw === 'template' || kw === 'block') throw new TemplateError(`{{${kw}}} is not supported`);
      nodes.push({ kind: 'action', pipe: parsePipe(a) });
    }
    if (stops.length > 0) throw new TemplateError('unexpected EOF');
    return { nodes, stop: '', rest: '' };
  };
  const control = (kind: 'if' | 'with' | 'range', pipeSrc: string): Node => {
    const pipe = parsePipe(pipeSrc);
    const then = block(['else', 'end']);
    let elseNodes: Node[] = [];
    if (then.stop === 'else') {
      const chained = /^(if|with)\b\s*(.*)$/s.exec(then.rest);
      if (chained && kind !== 'range') {
        // {{else if …}} is an if nested in the else branch, closed by the same {{end}}.
        elseNodes = [control(chained[1] as 'if' | 'with', chained[2])];
      } else {
        elseNodes = block(['end']).nodes;
      }
    }
    return { kind, pipe, then: then.nodes, else: elseNodes } as Node;
  };
  return block([]).nodes;
}

// ---------------------------------------------------------------- evaluation

function truthy(v: unknown): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Go's %v of the values OPA passes to text/template. */
function goValue(v: unknown): string {
  if (v === MISSING) return '<undefined>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goValue(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('incompatible types for comparison');
}

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  not: (a) => !truthy(a),
  len: (a) => {
    if (typeof a === 'string') return Buffer.byteLength(a);
    if (Array.isArray(a)) return a.length;
    if (a && typeof a === 'object') return Object.keys(a).length;
    throw new TemplateError('len of invalid value');
  },
  index: (a, ...keys) => {
    let cur = a;
    for (const k of keys) {
      if (Array.isArray(cur) && typeof k === 'number') cur = cur[k];
      else if (cur && typeof cur === 'object' && typeof k === 'string') cur = Object.hasOwn(cur, k) ? (cur as Record<string, unknown>)[k] : MISSING; // own keys only: `constructor` is data, not Object
      else throw new TemplateError('cannot index');
      if (cur === undefined) throw new TemplateError('index out of range');
    }
    return cur;
  },
  eq: (a, ...bs) => bs.some((b) => JSON.stringify(a) === JSON.stringify(b)),
  ne: (a, b) => JSON.stringify(a) !== JSON.stringify(b),
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  print: (...a) => a.map(goValue).join(''),
  println: (...a) => `${a.map(goValue).join(' ')}\n`,
  printf: (f, ...a) => goSprintf(String(f), a),
};

class Scope {
  constructor(
    readonly vars: Map<string, unknown>,
    readonly parent?: Scope,
  ) {}

  private find(name: string): Map<string, unknown> {
    if (this.vars.has(name)) return this.vars;
    if (this.parent) return this.parent.find(name);
    throw new TemplateError(`undefined variable: ${name}`);
  }

  get(name: string): unknown {
    return this.find(name).get(name);
  }

  set(name: string, v: unknown): void {
    this.find(name).set(name, v);
  }
}

function field(base: unknown, path: string[]): unknown {
  let cur = base;
  for (const p of path) {
    if (cur === MISSING) return MISSING;
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) throw new TemplateError(`can't evaluate field ${p}`);
    const o = cur as Record<string, unknown>;
    // Own keys only: {{.constructor}} on a map without that key is <no value>, not Object's constructor.
    cur = Object.hasOwn(o, p) ? o[p] : MISSING;
  }
  return cur;
}

function evalPipe(pipe: Pipe, dot: unknown, scope: Scope): unknown {
  let prev: unknown = undefined;
  let hasPrev = false;
  for (const cmd of pipe.cmds) {
    const args = cmd.map((a, idx) => (idx === 0 && a.t === 'ident' ? undefined : evalArg(a, dot, scope)));
    const head = cmd[0];
    let v: unknown;
    if (head.t === 'ident') {
      const fn = head.name === 'and' || head.name === 'or' ? undefined : FUNCS[head.name];
      const rest = args.slice(1);
      if (hasPrev) rest.push(prev);
      if (head.name === 'and') v = rest.find((x) => !truthy(x)) ?? rest[rest.length - 1];
      else if (head.name === 'or') v = rest.find((x) => truthy(x)) ?? rest[rest.length - 1];
      else if (fn) v = fn(...rest);
      else throw new TemplateError(`function "${head.name}" not defined`);
    } else {
      if (cmd.length > 1 || hasPrev) throw new TemplateError("can't give argument to non-function");
      v = args[0];
    }
    prev = v;
    hasPrev = true;
  }
  for (const name of pipe.decl) {
    if (pipe.assign) scope.set(name, prev);
    else scope.vars.set(name, prev);
  }
  return prev;
}

function evalArg(a: Arg, dot: unknown, scope: Scope): unknown {
  switch (a.t) {
    case 'lit':
      return a.v;
    case 'field':
      return field(a.base === 'dot' ? dot : scope.get(a.base), a.path);
    case 'sub':
      return evalPipe(a.pipe, dot, scope);
    case 'ident': {
      const fn = FUNCS[a.name];
      if (!fn) throw new TemplateError(`function "${a.name}" not defined`);
      return fn();
    }
  }
}

function run(nodes: Node[], dot: unknown, scope: Scope, out: string[], budget: { steps: number }): void {
  for (const n of nodes) {
    if (--budget.steps < 0) throw new TemplateError('template too expensive');
    switch (n.kind) {
      case 'text':
        out.push(n.text);
        break;
      case 'action': {
        const v = evalPipe(n.pipe, dot, scope);
        if (n.pipe.decl.length === 0) out.push(goValue(v));
        break;
      }
      case 'if':
      case 'with': {
        const inner = new Scope(new Map(), scope);
        const v = evalPipe(n.pipe, dot, inner);
        if (truthy(v)) run(n.then, n.kind === 'with' ? v : dot, inner, out, budget);
        else run(n.else, dot, inner, out, budget);
        break;
      }
      case 'range': {
        const inner = new Scope(new Map(), scope);
        const decl = n.pipe.decl;
        const v = evalPipe({ ...n.pipe, decl: [] }, dot, inner);
        const entries: Array<[unknown, unknown]> = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === 'object'
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
            : typeof v === 'number'
              ? Array.from({ length: Math.max(0, Math.floor(v)) }, (_, i) => [i, i])
              : [];
        if (v !== MISSING && v !== null && typeof v !== 'object' && typeof v !== 'number') throw new TemplateError(`range can't iterate over ${goValue(v)}`);
        if (entries.length === 0) {
          run(n.else, dot, inner, out, budget);
          break;
        }
        for (const [k, x] of entries) {
          const s = new Scope(new Map(), inner);
          if (decl.length === 1) s.vars.set(decl[0], x);
          else if (decl.length === 2) {
            s.vars.set(decl[0], k);
            s.vars.set(decl[1], x);
          }
          run(n.then, x, s, out, budget);
        }
        break;
      }
    }
  }
}

export function renderTemplate(template: unknown, vars: unknown): string {
  if (typeof template !== 'string') throw new TypeError('strings.render_template: operand 1 must be a string');
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) throw new TypeError('strings.render_template: operand 2 must be an object');
  const nodes = parse(template);
  const out: string[] = [];
  run(nodes, vars, new Scope(new Map([['$', vars]])), out, { steps: 100_000 });
  return out.join('');
}
