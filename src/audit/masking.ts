/** One masking instruction, as OPA's `data.system.log.mask` returns it. */
export type MaskRule = string | { op?: string; path?: string; value?: unknown };

function parsePointer(p: string): string[] | undefined {
  if (!p.startsWith('/')) return undefined;
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Applies mask rules to an event's `input` and `result`, OPA-style: a string
 * pointer (or `{op: "remove", path}`) erases the value; `{op: "upsert", path,
 * value}` replaces it. Only paths under /input and /result are honoured.
 * Copy-on-write: only the objects along a masked path are copied, so the
 * decision's own input (shared with the caller) is never modified.
 * Returns the erased and masked pointers that applied.
 */
export function applyMask(
  doc: { input?: unknown; result?: unknown },
  rules: MaskRule[],
): { input?: unknown; result?: unknown; erased: string[]; masked: string[] } {
  const out: Record<string, unknown> = { input: doc.input, result: doc.result };
  const copied = new WeakSet<object>([out]);
  const erased: string[] = [];
  const masked: string[] = [];
  for (const rule of rules) {
    const ptr = typeof rule === 'string' ? rule : rule?.path;
    const op = typeof rule === 'string' ? 'remove' : (rule?.op ?? 'remove');
    if (typeof ptr !== 'string' || (op !== 'remove' && op !== 'upsert')) continue;
    const parts = parsePointer(ptr);
    if (!parts || parts.length < 2 || (parts[0] !== 'input' && parts[0] !== 'result')) continue;
    const last = parts[parts.length - 1];
    // Walk down, checking the path exists before copying anything.
    let probe: unknown = out;
    for (const key of parts.slice(0, -1)) probe = isObject(probe) ? probe[key] : undefined;
    if (!isObject(probe)) continue;
    if (op !== 'upsert' && !Object.prototype.hasOwnProperty.call(probe, last)) continue;
    let obj = out;
    for (const key of parts.slice(0, -1)) {
      let child = obj[key] as Record<string, unknown>;
      if (!copied.has(child)) {
        child = { ...child };
        copied.add(child);
        obj[key] = child;
      }
      obj = child;
    }
    if (op === 'upsert') {
      obj[last] = (rule as { value?: unknown }).value;
      masked.push(ptr);
    } else if (op === 'remove') {
      delete obj[last];
      erased.push(ptr);
    }
  }
  return { input: out.input, result: out.result, erased, masked };
}

/** The pointers recorded when masking could not be applied and the whole input and result were dropped. */
export const ERASED_ALL = ['/input', '/result'];

/**
 * Fail closed for privacy: when the mask cannot be applied (the revision could
 * not be loaded, the mask failed to evaluate or answered something other than
 * an array), the event keeps neither input nor result.
 */
export function eraseInputAndResult(event: { input?: unknown; result?: unknown; erased?: string[]; masked?: string[] }): void {
  delete event.input;
  delete event.result;
  delete event.masked;
  event.erased = [...ERASED_ALL];
}
