import { hash } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { compactJwsProblem } from '../common/base64url.js';
import { stripBearer } from '../common/bearer.js';
import type { IssuerConfig, ServerConfig } from '../config/config.schema.js';
import { matchingAudiences } from './audience.js';
import { assertIdentityClaims } from './identity-claims.js';
import { KeySource, type Clock, type FetchListener } from './key-source.js';
import { TokenCache } from './token-cache.js';
import { TokenError, type TokenErrorCode } from './token-errors.js';

/** A token that passed every check, with what policy and logs may use. */
export interface VerifiedToken {
  claims: JWTPayload & Record<string, unknown>;
  scopes: string[];
  issuer: string;
  /** First 12 hex of the token's SHA-256: safe to log, never the token itself. */
  fingerprint: string;
  /** Epoch ms of `exp`. */
  expiresAt: number;
  cached: boolean;
  /** Claims a trusted gateway asserted (no signature was checked here); see asserted-claims.ts. */
  asserted?: true;
}

/** Options that are not per issuer. */
export interface VerifierOptions {
  maxTokenBytes: number;
  cacheEntries: number;
  onFetch?: FetchListener;
  /** Clock for key freshness and fetch backoff (default Date.now); tests move it instead of sleeping. */
  clock?: Clock;
}

const KEY_INJECTION_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'];

/** SHA-256 fingerprint of a token (first 12 hex); the only form a token may be logged in. */
export function tokenFingerprint(token: string): string {
  return hash('sha256', token, 'hex').slice(0, 12);
}

/** A header or payload segment (already checked canonical by compactJwsProblem) as a JSON object. */
function decodeSegment(seg: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('token_malformed', `the token's ${what} is not JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenError('token_malformed', `the token's ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** `scope` (space-delimited, RFC 9068) or `scp` (array or string) → list of scopes. */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

function mapJoseError(e: unknown, issuer: string): TokenError {
  if (e instanceof TokenError) return e;
  if (e instanceof joseErrors.JWTExpired) return new TokenError('token_expired', 'the token has expired');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (e.reason === 'missing' && claim === 'aud') return new TokenError('token_audience_mismatch', 'the token names no audience (aud)');
    if (e.reason === 'missing') return new TokenError('token_malformed', `the token has no "${claim}" claim`);
    const byClaim: Record<string, [TokenErrorCode, string]> = {
      nbf: ['token_not_yet_valid', 'the token is not valid yet (nbf)'],
      iat: ['token_not_yet_valid', 'the token was issued in the future (iat)'],
      iss: ['token_issuer_untrusted', 'the token issuer does not match'],
      aud: ['token_audience_mismatch', 'the token was not issued for this server (aud)'],
      typ: ['token_type_invalid', 'the token type (typ) is not accepted'],
    };
    const [code, message] = byClaim[claim] ?? ['token_malformed', `the token's "${claim}" claim is invalid`];
    return new TokenError(code, message);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return new TokenError('token_algorithm_rejected', 'the token algorithm is not allowed');
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('token_invalid_signature', 'the token signature is invalid');
  if (e instanceof joseErrors.JWKSNoMatchingKey) return new TokenError('token_invalid_signature', `no key of ${issuer} matches the token (kid)`);
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return new TokenError('token_invalid_signature', 'the token does not name which key (kid) signed it');
  if (e instanceof joseErrors.JOSENotSupported) return new TokenError('token_malformed', `the token uses an unsupported feature: ${e.message}`);
  if (e instanceof joseErrors.JOSEError) return new TokenError('token_malformed', `the token is malformed: ${e.message}`);
  return new TokenError('token_invalid_signature', 'the token could not be verified');
}

/**
 * Verifies bearer JWTs for one protected MCP server with jose: exact issuer,
 * audience = the server's resource, exp required, nbf/iat with tolerance,
 * per-issuer algorithm allowlist, optional `typ`. Headers that try to bring
 * their own key (jwk, jku, x5u, x5c) are refused outright.
 */
export class TokenVerifier {
  private readonly sources = new Map<string, KeySource>();
  private readonly cache: TokenCache<VerifiedToken>;

  constructor(
    issuers: IssuerConfig[],
    private readonly opts: VerifierOptions,
  ) {
    for (const iss of issuers) this.sources.set(iss.issuer, new KeySource(iss, opts.onFetch, opts.clock));
    this.cache = new TokenCache(opts.cacheEntries);
  }

  /** The issuer's key source (tests and admin use it to force a refresh). */
  keySource(issuer: string): KeySource | undefined {
    return this.sources.get(issuer);
  }

  /** Every configured issuer's key source (the admin overview reports their health). */
  keySources(): KeySource[] {
    return [...this.sources.values()];
  }

  /** Number of cached verified tokens. */
  get cacheSize(): number {
    return this.cache.size;
  }

  private readonly generationOf = (issuer: string): number => this.sources.get(issuer)?.generation ?? -1;

  /** The token in a bearer value (`Bearer ` prefix dropped); throws TokenError when there is none or it is too long. */
  private tokenOf(rawToken: unknown): string {
    if (typeof rawToken !== 'string') throw new TokenError('token_missing', 'no bearer token was presented');
    // Only a value starting with B or b can carry the "Bearer " prefix: the rest skips the regex.
    const first = rawToken.charCodeAt(0);
    const token = first === 66 || first === 98 ? stripBearer(rawToken) : rawToken.trim();
    if (token === '') throw new TokenError('token_missing', 'no bearer token was presented');
    if (token.length > this.opts.maxTokenBytes) throw new TokenError('token_malformed', `the token is longer than ${this.opts.maxTokenBytes} bytes`);
    return token;
  }

  /**
   * The verified facts of `token` for `server` if the cache holds them (the
   * synchronous path of `verify`: no decoding, no promise), else undefined.
   * Throws TokenError for a missing or oversized token.
   */
  cached(rawToken: unknown, server: ServerConfig, now = Date.now()): VerifiedToken | undefined {
    return this.cache.get(server.id, this.tokenOf(rawToken), this.generationOf, now);
  }

  /** Verifies `token` for `server`; throws TokenError. `Bearer ` prefixes are accepted. */
  async verify(rawToken: unknown, server: ServerConfig, now = Date.now()): Promise<VerifiedToken> {
    const token = this.tokenOf(rawToken);
    // Cache first: a hit costs one Map lookup and a string comparison, no decoding
    // (TokenCache explains why no digest is needed). The entry remembers its issuer,
    // and is honoured only while that issuer's key set is the one it was verified with.
    const hit = this.cache.get(server.id, token, this.generationOf, now);
    if (hit) return hit;

    const parts = token.split('.');
    if (parts.length === 5) throw new TokenError('token_malformed', 'encrypted tokens (JWE) are not accepted; send a signed JWT');
    if (parts.length !== 3) throw new TokenError('token_malformed', 'the token is not a compact JWS (three dot-separated parts)');
    // One spelling per token: jose (and Buffer) would accept padding, whitespace and stray trailing bits,
    // and every such spelling of one signed token would get a fingerprint and a cache entry of its own.
    const spelling = compactJwsProblem(token);
    if (spelling) throw new TokenError('token_malformed', `the token's ${spelling}`);

    const header = decodeSegment(parts[0], 'header');
    const payload = decodeSegment(parts[1], 'payload');
    const iss = payload.iss;
    if (typeof iss !== 'string') throw new TokenError('token_issuer_untrusted', 'the token has no issuer (iss)');
    const source = server.issuers.includes(iss) ? this.sources.get(iss) : undefined;
    if (!source) throw new TokenError('token_issuer_untrusted', `issuer ${iss} is not trusted for server ${server.id}`);

    const cfg = source.config;
    if (typeof header.alg !== 'string' || !cfg.algorithms.includes(header.alg)) {
      throw new TokenError('token_algorithm_rejected', `algorithm ${String(header.alg)} is not allowed for ${iss}`);
    }
    const injected = KEY_INJECTION_HEADERS.filter((h) => h in header);
    if (injected.length > 0) {
      throw new TokenError('token_invalid_signature', `the token header carries its own key material (${injected.join(', ')}); refused`);
    }
    // jose compares `aud` exactly; the canonical-URI rule (audience.ts) picks the
    // payload's values that name this server, and jose checks the signed payload
    // holds one of them, in its usual order of checks. None → the resource itself,
    // so jose refuses with its usual audience error.
    const audiences = matchingAudiences(payload.aud, server.resource);
    let claims: JWTPayload;
    try {
      const res = await jwtVerify(token, (h, t) => source.getKey(h, t), {
        issuer: cfg.issuer,
        audience: audiences.length > 0 ? audiences : server.resource,
        algorithms: cfg.algorithms,
        clockTolerance: cfg.clock_tolerance_s,
        requiredClaims: ['exp'],
        typ: cfg.typ,
        currentDate: new Date(now),
      });
      claims = res.payload;
    } catch (e) {
      throw mapJoseError(e, iss);
    }
    if (typeof claims.iat === 'number' && claims.iat * 1000 > now + cfg.clock_tolerance_s * 1000) {
      throw new TokenError('token_not_yet_valid', 'the token was issued in the future (iat)');
    }
    assertIdentityClaims(claims as Record<string, unknown>, "the token's");
    const verified: VerifiedToken = {
      claims: claims as VerifiedToken['claims'],
      scopes: scopesOf(claims as Record<string, unknown>),
      issuer: iss,
      fingerprint: tokenFingerprint(token),
      expiresAt: (claims.exp as number) * 1000,
      cached: false,
    };
    // The entry is what every hit returns as is, and the claims and scopes it shares with this
    // answer are frozen too (deeply), so no caller can change what the next one sees.
    deepFreeze(verified.claims);
    Object.freeze(verified.scopes);
    if (verified.expiresAt > now) {
      this.cache.set(server.id, token, { value: Object.freeze({ ...verified, cached: true }), expiresAt: verified.expiresAt, issuer: iss, generation: source.generation });
    }
    return verified;
  }
}

/** Freezes a JSON value and everything in it (verified claims are plain JSON). */
function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v as Record<string, unknown>)) deepFreeze(x);
}
