import { Injectable } from '@nestjs/common';
import { RESERVED_SERVER_ID_PREFIX, ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { RevocationService } from './revocation.service.js';
import { checkAssertedClaims } from './asserted-claims.js';
import { TokenError } from './token-errors.js';
import { TokenVerifier, type VerifiedToken } from './token-verifier.js';

/**
 * The Nest face of TokenVerifier: one verifier for the configured issuers,
 * wired to metrics and revocation. `verify` is the one path by which toolgate
 * accepts a token: decision tokens, caller tokens and admin tokens alike.
 */
@Injectable()
export class TokenService {
  /**
   * Signature and claim checks only, with no revocation check: for benchmarks
   * of raw verification. Never accept a token with it; use `verify`.
   */
  readonly verifier: TokenVerifier;

  constructor(
    config: ToolgateConfig,
    private readonly metrics: MetricsService,
    private readonly revocations: RevocationService,
  ) {
    this.verifier = new TokenVerifier(config.issuers, {
      maxTokenBytes: config.limits.token_bytes,
      cacheEntries: config.token_cache.max_entries,
      onFetch: (issuer, result) => metrics.jwksFetches.inc({ issuer, result }),
    });
  }

  /**
   * Verifies a bearer token for a server (a protected MCP server, or one of
   * toolgate's own audiences), then checks revocation (after the cache, so a
   * cached token can still be revoked); throws TokenError (RevokedTokenError
   * for a revoked one, `revocation_stale` when the rules are too old to vouch
   * for any token of a protected server). A cached token is answered
   * synchronously (no promise on the hot path); callers `await` either way.
   */
  verify(token: string, server: ServerConfig): VerifiedToken | Promise<VerifiedToken> {
    const hit = this.verifier.cached(token, server);
    if (hit) return this.accepted(hit, server);
    return this.verifier.verify(token, server).then((v) => this.accepted(v, server));
  }

  private accepted(v: VerifiedToken, server: ServerConfig): VerifiedToken {
    this.metrics.countTokenLookup(v.cached);
    this.checkRevoked(v, server);
    return v;
  }

  /**
   * Accepts claims a trusted gateway asserts (the caller's right to assert
   * them is checked before, by admitAssertion): the checks that need no
   * signature, then revocation of the asserted `jti`, `sub` and client, as
   * for a token. Throws TokenError (RevokedTokenError for a revoked one).
   */
  acceptAsserted(claims: Record<string, unknown>, server: ServerConfig): VerifiedToken {
    const v = checkAssertedClaims(claims, server, (iss) => this.verifier.keySource(iss)?.config);
    this.checkRevoked(v, server);
    return v;
  }

  /** Revocation, then staleness: a revoked token is refused even while the rules are stale. */
  private checkRevoked(v: VerifiedToken, server: ServerConfig): void {
    const revoked = this.revocations.check(v);
    if (revoked) {
      throw new RevokedTokenError(v, `the token was revoked (${revoked.kind}${revoked.reason ? `: ${revoked.reason}` : ''})`);
    }
    // Stale rules refuse tokens for protected servers; toolgate's own callers and admins
    // (their revoked tokens still refused above) keep /v1/status and metrics readable in an outage.
    if (!server.id.startsWith(RESERVED_SERVER_ID_PREFIX)) this.revocations.assertFresh();
  }
}

/** A verified but revoked token; carries the verified facts so the decision log can name whose token it was. */
export class RevokedTokenError extends TokenError {
  constructor(
    readonly token: VerifiedToken,
    message: string,
  ) {
    super('token_revoked', message);
  }
}
