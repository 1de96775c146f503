import { createHash, type Hash } from 'node:crypto';

/** A parsed JSON value that keeps number literals as written. */
type Node = { o: [string, Node][] } | { a: Node[] } | { s: string } | { raw: string };

/** Parses JSON keeping each number's literal text (OPA decodes numbers as json.Number). */
function parse(text: string): Node {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`invalid JSON at offset ${i}: ${what}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const str = (): string => {
    const start = i;
    if (text[i] !== '"') fail('expected a string');
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (depth: number): Node => {
    if (depth > 512) fail('nested too deeply');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: [string, Node][] = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { o };
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        o.push([k, value(depth + 1)]);
        ws();
        const d = text[i++];
        if (d === '}') return { o };
        if (d !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const a: Node[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { a };
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return { a };
        if (d !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return { s: str() };
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 512));
    if (!m) fail('unexpected token');
    i += m![0].length;
    return { raw: m![0] };
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

// Go's json encoder with SetEscapeHTML(false): JSON.stringify's escaping, plus U+2028/U+2029.
function encodeString(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function walk(n: Node, h: Hash): void {
  if ('o' in n) {
    h.update('{');
    const sorted = [...n.o].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    sorted.forEach(([k, v], idx) => {
      if (idx > 0) h.update(',');
      h.update(encodeString(k));
      h.update(':');
      walk(v, h);
    });
    h.update('}');
  } else if ('a' in n) {
    h.update('[');
    n.a.forEach((v, idx) => {
      if (idx > 0) h.update(',');
      walk(v, h);
    });
    h.update(']');
  } else if ('s' in n) {
    h.update(encodeString(n.s));
  } else {
    h.update(n.raw);
  }
}

/**
 * Hashes a JSON document as OPA hashes structured bundle files for signatures
 * (v1/bundle/hash.go): object keys sorted, no whitespace, numbers as written.
 */
export function canonicalJsonHash(text: string, algorithm: string): string {
  const h = createHash(algorithm);
  walk(parse(text), h);
  return h.digest('hex');
}
