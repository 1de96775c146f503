/** One masking instruction, as OPA's `data.system.log.mask` returns it. */
export type MaskRule = string | { op?: string; path?: string; value?: unknown };

function parsePointer(p: string): string[] | undefined {
  if (!p.startsWith('/')) return undefined;
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Applies mask rules to an event's `input` and `result`, OPA-style: a string
 * pointer (or `{op: "remove", path}`) erases the value; `{op: "upsert", path,
 * value}` replaces it. Only paths under /input and /result are honoured.
 * Works on a deep copy; returns the erased and masked pointers that applied.
 */
export function applyMask(
  doc: { input?: unknown; result?: unknown },
  rules: MaskRule[],
): { input?: unknown; result?: unknown; erased: string[]; masked: string[] } {
  const out = structuredClone(doc) as Record<string, unknown>;
  const erased: string[] = [];
  const masked: string[] = [];
  for (const rule of rules) {
    const ptr = typeof rule === 'string' ? rule : rule?.path;
    const op = typeof rule === 'string' ? 'remove' : (rule?.op ?? 'remove');
    if (typeof ptr !== 'string') continue;
    const parts = parsePointer(ptr);
    if (!parts || parts.length < 2 || (parts[0] !== 'input' && parts[0] !== 'result')) continue;
    let parent: unknown = out;
    for (const key of parts.slice(0, -1)) {
      parent = parent && typeof parent === 'object' && !Array.isArray(parent) ? (parent as Record<string, unknown>)[key] : undefined;
    }
    if (!parent || typeof parent !== 'object' || Array.isArray(parent)) continue;
    const obj = parent as Record<string, unknown>;
    const last = parts[parts.length - 1];
    if (op === 'upsert') {
      obj[last] = (rule as { value?: unknown }).value;
      masked.push(ptr);
    } else if (op === 'remove' && Object.prototype.hasOwnProperty.call(obj, last)) {
      delete obj[last];
      erased.push(ptr);
    }
  }
  return { input: out.input, result: out.result, erased, masked };
}
