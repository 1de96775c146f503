import type { ActivePolicy } from '../policy-store/active-policy.js';
import { LIST_WRAPPER_FILE } from '../policy-compiler/list-wrapper.js';

/** Builtins whose answer depends on the evaluation clock (`time.now_ns`, and verifications checking expiry against it). */
const CLOCK_BUILTINS = new Set([
  'time.now_ns',
  'io.jwt.decode_verify',
  'crypto.x509.parse_and_verify_certificates',
  'crypto.x509.parse_and_verify_certificates_with_options',
]);

/** Rego with string literals and comments taken out, so neither can hide nor fake a reference to `input`. */
function code(rego: string): string {
  return rego
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/`[^`]*`/g, '``')
    .replace(/#.*$/gm, '');
}

/**
 * Whether the policy can answer differently for the same input at another
 * time: it calls a clock builtin, or its Rego reads `input.time` or reads
 * `input` in any way other than `input.<field>` (which could reach `time`).
 * Without the Rego sources (a bundle built without them) nothing can be
 * proven, so the answer is yes. When it is no, the privileges analysis may
 * treat inputs that differ only in their time as one.
 */
export function policyReadsClock(active: ActivePolicy): boolean {
  if (active.policy.info.hostBuiltins.some((b) => CLOCK_BUILTINS.has(b))) return true;
  const sources = [...(active.files ?? new Map<string, Buffer>()).entries()].filter(([name]) => name.endsWith('.rego'));
  if (sources.length === 0) return true;
  for (const [name, body] of sources) {
    // toolgate's own list wrapper (the builder writes it there) hands the whole input to `decision`, whose Rego is checked here itself.
    if (name.replace(/^\//, '') === LIST_WRAPPER_FILE) continue;
    const text = code(body.toString('utf8'));
    for (const m of text.matchAll(/\binput\b(\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?/g)) {
      // A bare `input`, `input[…]` or `input.time` may reach the time; `input.<other field>` cannot.
      if (m[2] === undefined || m[2] === 'time') return true;
    }
  }
  return false;
}
