import { CLIENT_CLAIMS } from './revocation.service.js';
import { TokenError } from './token-errors.js';

/** The claims revocation matches on: `jti`, `sub` and every claim that names the client. */
export const IDENTITY_CLAIMS = ['jti', 'sub', ...CLIENT_CLAIMS] as const;

/**
 * Refuses claims whose identity claims are present but not strings: a numeric
 * `jti`, an array `client_id` or an object `sub` would match no revocation rule
 * (rules hold strings and are matched exactly), so such a token could never be
 * revoked by that claim. Refusing it (401 `token_malformed`) is stricter than
 * guessing one canonical string form for it, and RFC 7519 makes `jti` and
 * `sub` strings anyway. Applies to verified tokens and to asserted claims
 * alike; `whose` names them in the message ("the token's", "the claims'").
 */
export function assertIdentityClaims(claims: Record<string, unknown>, whose: string): void {
  for (const name of IDENTITY_CLAIMS) {
    const v = claims[name];
    if (v !== undefined && typeof v !== 'string') {
      throw new TokenError('token_malformed', `${whose} "${name}" claim is not a string (${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}); identity claims must be strings so revocation can match them`);
    }
  }
}
