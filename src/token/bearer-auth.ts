import { CallerUnauthorizedError } from '../common/errors.js';
import type { ServerConfig } from '../config/config.schema.js';
import { TokenError } from './token-errors.js';
import type { VerifiedToken } from './token-verifier.js';
import type { TokenService } from './token.service.js';

/** How one of toolgate's own APIs names itself in answers and challenges. */
export interface BearerRealm {
  /** `realm` of the WWW-Authenticate challenge. */
  realm: string;
  /** Whose token, for messages: "the admin token", "the caller's token". */
  what: string;
  /** The scope the token must carry (or one of `alternatives`). */
  scope: string;
  /** Scopes that also satisfy the requirement (the admin scope implies the read scope). */
  alternatives?: readonly string[];
  /** The message when the token has none of them; default "<what> lacks the scope <scope>". */
  forbidden?: (scopes: readonly string[]) => string;
}

/**
 * Authenticates a bearer token for one of toolgate's own APIs (callers, admin)
 * through the one path every accepted token takes: TokenService.verify, which
 * verifies and then checks revocation. A rejected or revoked token is 401
 * `caller_unauthenticated` (the message names the token code, e.g.
 * `token_revoked`); a valid token without the scope is 403 `caller_forbidden`.
 */
export async function authenticateBearer(
  tokens: TokenService,
  header: string | undefined,
  self: ServerConfig,
  r: BearerRealm,
): Promise<VerifiedToken> {
  if (!header || !/^Bearer\s+\S/i.test(header)) {
    throw new CallerUnauthorizedError('caller_unauthenticated', `${r.what} is required: send a bearer token`, `Bearer realm="${r.realm}", scope="${r.scope}"`);
  }
  let v: VerifiedToken;
  try {
    v = await tokens.verify(header, self);
  } catch (e) {
    if (e instanceof TokenError) {
      throw new CallerUnauthorizedError('caller_unauthenticated', `${r.what} was rejected: ${e.code}`, `Bearer error="invalid_token", realm="${r.realm}"`);
    }
    throw e;
  }
  if (!v.scopes.includes(r.scope) && !r.alternatives?.some((s) => v.scopes.includes(s))) {
    const message = r.forbidden?.(v.scopes) ?? `${r.what} lacks the scope ${r.scope}`;
    throw new CallerUnauthorizedError('caller_forbidden', message, `Bearer error="insufficient_scope", scope="${r.scope}"`);
  }
  return v;
}
