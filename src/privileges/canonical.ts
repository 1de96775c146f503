import { createHash } from 'node:crypto';

/**
 * JSON with every object's keys sorted, so two inputs that differ only in key
 * order (one client's SDK against another's) are recognised as the same input.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort()) {
    if (o[k] === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(o[k])}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * The memo key of an input: 22 base64 characters (132 bits) of SHA-256 over
 * its canonical JSON. Holding the digest rather than the JSON keeps a month of
 * distinct inputs within a few hundred MiB.
 */
export function inputKey(canonical: string): string {
  return createHash('sha256').update(canonical).digest('base64').slice(0, 22);
}
