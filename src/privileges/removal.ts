/**
 * What a caller holds, read from one recorded policy input, and the same input
 * with one held scope or role taken away, as if the token had not carried it.
 */

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/** The scopes of a verified token as the policy saw them (`input.scopes`). */
export function heldScopes(input: Record<string, unknown>): string[] {
  return [...new Set(strings(input.scopes))];
}

/** The roles the token claims (`input.claims.roles`); roles a policy derives from scopes are covered by removing the scope. */
export function heldRoles(input: Record<string, unknown>): string[] {
  const claims = input.claims;
  return isObject(claims) ? [...new Set(strings(claims.roles))] : [];
}

function dropWord(v: unknown, word: string): unknown {
  if (typeof v === 'string') return v.split(' ').filter((s) => s && s !== word).join(' ');
  if (Array.isArray(v)) return v.filter((s) => s !== word);
  return v;
}

/**
 * The input without `scope`: gone from `input.scopes` and from the claims it
 * came from (`scope`, space-delimited, or `scp`), so a policy reading either
 * sees a token that never had it.
 */
export function withoutScope(input: Record<string, unknown>, scope: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...input, scopes: strings(input.scopes).filter((s) => s !== scope) };
  if (isObject(input.claims)) {
    const claims: Record<string, unknown> = { ...input.claims };
    if ('scope' in claims) claims.scope = dropWord(claims.scope, scope);
    if ('scp' in claims) claims.scp = dropWord(claims.scp, scope);
    out.claims = claims;
  }
  return out;
}

/** The input without `role` in `input.claims.roles`. */
export function withoutRole(input: Record<string, unknown>, role: string): Record<string, unknown> {
  if (!isObject(input.claims)) return input;
  return { ...input, claims: { ...input.claims, roles: strings(input.claims.roles).filter((r) => r !== role) } };
}
