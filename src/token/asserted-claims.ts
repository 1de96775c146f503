import { CallerUnauthorizedError } from '../common/errors.js';
import type { IssuerConfig, ServerConfig } from '../config/config.schema.js';
import { matchingAudiences } from './audience.js';
import { assertIdentityClaims } from './identity-claims.js';
import type { Caller } from './caller-auth.guard.js';
import { TokenError } from './token-errors.js';
import { scopesOf, tokenFingerprint, type VerifiedToken } from './token-verifier.js';

/**
 * The scope a caller's token must hold to send verified claims instead of a
 * token (a gateway that has verified the token itself; README, "Behind a gateway").
 */
export const ASSERT_CLAIMS_SCOPE = 'toolgate:claims';

/**
 * Refuses asserted claims from a caller that may not assert them: an
 * anonymous (or embedded) caller is 401 `caller_unauthenticated`, since only a
 * caller toolgate authenticated can be trusted with claims; an authenticated
 * caller without `toolgate:claims` is 403 `caller_forbidden`. Runs before
 * anything else looks at the claims.
 */
export function admitAssertion(caller: Caller): void {
  if (!caller.scopes) {
    throw new CallerUnauthorizedError(
      'caller_unauthenticated',
      'claims are accepted only from a caller authenticated with callers.auth: jwt whose token holds the scope toolgate:claims; send the token instead',
      `Bearer realm="toolgate", scope="${ASSERT_CLAIMS_SCOPE}"`,
    );
  }
  if (!caller.scopes.includes(ASSERT_CLAIMS_SCOPE)) {
    throw new CallerUnauthorizedError('caller_forbidden', `the caller's token lacks the scope ${ASSERT_CLAIMS_SCOPE} needed to send claims`, `Bearer error="insufficient_scope", scope="${ASSERT_CLAIMS_SCOPE}"`);
  }
}

/**
 * The checks of a token that need no signature, applied to claims a trusted
 * gateway asserts: `iss` one of the issuers this server trusts, `aud` naming
 * the server's `resource` (canonical-URI rule), `exp` present and in the
 * future, `nbf` and `iat` not beyond the issuer's clock tolerance. Failures
 * carry the same `token_*` codes as for a token. `issuerConfig` looks up a
 * configured issuer.
 */
export function checkAssertedClaims(
  claims: Record<string, unknown>,
  server: ServerConfig,
  issuerConfig: (issuer: string) => IssuerConfig | undefined,
  now = Date.now(),
): VerifiedToken {
  const iss = claims.iss;
  if (typeof iss !== 'string') throw new TokenError('token_issuer_untrusted', 'the claims name no issuer (iss)');
  const cfg = server.issuers.includes(iss) ? issuerConfig(iss) : undefined;
  if (!cfg) throw new TokenError('token_issuer_untrusted', `issuer ${iss} is not trusted for server ${server.id}`);
  if (claims.aud === undefined) throw new TokenError('token_audience_mismatch', 'the claims name no audience (aud)');
  if (matchingAudiences(claims.aud, server.resource).length === 0) {
    throw new TokenError('token_audience_mismatch', 'the claims were not issued for this server (aud)');
  }
  const tolerance = cfg.clock_tolerance_s;
  const exp = claims.exp;
  if (exp === undefined) throw new TokenError('token_malformed', 'the claims have no "exp" claim');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenError('token_malformed', 'the claims\' "exp" is not a number');
  const nowS = now / 1000;
  if (exp <= nowS - tolerance) throw new TokenError('token_expired', 'the claims have expired (exp)');
  for (const [claim, what] of [['nbf', 'are not valid yet (nbf)'], ['iat', 'were issued in the future (iat)']] as const) {
    const v = claims[claim];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TokenError('token_malformed', `the claims' "${claim}" is not a number`);
    if (v > nowS + tolerance) throw new TokenError('token_not_yet_valid', `the claims ${what}`);
  }
  assertIdentityClaims(claims, "the claims'");
  return {
    claims: claims as VerifiedToken['claims'],
    scopes: scopesOf(claims),
    issuer: iss,
    // No token exists; the fingerprint identifies the asserted claims as sent.
    fingerprint: tokenFingerprint(JSON.stringify(claims)),
    expiresAt: exp * 1000,
    cached: false,
    asserted: true,
  };
}
