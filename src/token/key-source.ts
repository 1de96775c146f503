import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { insecureUrlReason, secureFetch } from '../common/secure-fetch.js';
import type { IssuerConfig } from '../config/config.schema.js';
import { TokenError } from './token-errors.js';

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

/** Counts JWKS fetches; wired to metrics by the token module. */
export type FetchListener = (issuer: string, result: 'ok' | 'error') => void;

/** Epoch milliseconds; injectable so tests can move time instead of sleeping. */
export type Clock = () => number;

/** GET a JSON document over https (or loopback http), no redirects, streamed under a byte cap. */
async function fetchJson(url: string, timeoutMs: number, maxBytes: number): Promise<unknown> {
  const res = await secureFetch(url, { timeoutMs, maxBytes, headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return JSON.parse(res.body.toString('utf8'));
}

function isJwks(v: unknown): v is JSONWebKeySet {
  return !!v && typeof v === 'object' && Array.isArray((v as { keys?: unknown }).keys);
}

/**
 * The verification keys of one issuer. Fetched lazily (from jwks_uri, a file,
 * or discovery), refreshed when older than jwks_max_age_s, and refetched once
 * when a token names an unknown `kid`, at most every jwks_cooldown_s. Every
 * change of the key set bumps `generation`, which invalidates cached tokens.
 *
 * A failed fetch starts a backoff (jwks_cooldown_s, at least 1 s, doubling per
 * consecutive failure up to jwks_backoff_max_s). Until it ends no fetch is
 * tried: with keys in hand they keep verifying, without any the answer is
 * issuer_unavailable at once. Without this, during an IdP outage every
 * uncached token would wait jwks_timeout_ms for yet another doomed fetch.
 */
export class KeySource {
  generation = 0;
  private resolver?: KeyResolver;
  private fingerprint = '';
  private fetchedAt = 0;
  private lastRefetchForKid = -Infinity;
  private inflight?: Promise<void>;
  private jwksUri?: string;
  private failures = 0;
  private retryAt = 0;
  private lastError = '';
  private keyCount = 0;

  constructor(
    readonly config: IssuerConfig,
    private readonly onFetch: FetchListener = () => {},
    private readonly now: Clock = () => Date.now(),
  ) {
    this.jwksUri = config.jwks_uri;
  }

  /** Resolves the key for a JWS header; shaped as jose's key-resolver function. */
  async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> {
    if (header.alg?.startsWith('HS')) {
      return new TextEncoder().encode(this.config.secret ?? '') as unknown as ResolvedKey;
    }
    const now = this.now();
    if (!this.resolver || now - this.fetchedAt > this.config.jwks_max_age_s * 1000) await this.refreshUnlessBackingOff(now);
    try {
      return await this.resolver!(header, token);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw e;
      if (now - this.lastRefetchForKid < this.config.jwks_cooldown_s * 1000) throw e;
      if (now < this.retryAt) throw e;
      this.lastRefetchForKid = now;
      await this.refresh();
      return this.resolver!(header, token);
    }
  }

  /** Health for the admin overview: whether keys are loaded, when last fetched, the last error. */
  health(): { issuer: string; ok: boolean; last_fetch_at: string | null; keys: number; failures: number; last_error: string | null } {
    return {
      issuer: this.config.issuer,
      ok: !!this.resolver && this.failures === 0,
      last_fetch_at: this.fetchedAt ? new Date(this.fetchedAt).toISOString() : null,
      keys: this.keyCount,
      failures: this.failures,
      last_error: this.failures > 0 ? this.lastError : null,
    };
  }

  /** Fetches the key set now (deduplicating concurrent callers), backoff or not. */
  refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async refreshUnlessBackingOff(now: number): Promise<void> {
    if (now >= this.retryAt) return this.refresh();
    if (this.resolver) return;
    throw new TokenError(
      'issuer_unavailable',
      `keys of issuer ${this.config.issuer} are unavailable (${this.lastError}); next attempt in ${Math.ceil((this.retryAt - now) / 1000)} s`,
    );
  }

  private async load(): Promise<void> {
    let jwks: unknown;
    try {
      if (this.config.jwks_file) {
        jwks = JSON.parse(await readFile(this.config.jwks_file, 'utf8'));
      } else {
        this.jwksUri ??= await this.discover();
        jwks = await fetchJson(this.jwksUri, this.config.jwks_timeout_ms, this.config.jwks_max_bytes);
      }
      if (!isJwks(jwks)) throw new Error('the JWKS document has no "keys" array');
      this.onFetch(this.config.issuer, 'ok');
    } catch (e) {
      this.onFetch(this.config.issuer, 'error');
      this.backOff((e as Error).message);
      // Keep serving with the keys we have, if any; without keys nothing verifies.
      if (this.resolver) return;
      throw new TokenError('issuer_unavailable', `keys of issuer ${this.config.issuer} are unavailable: ${this.lastError}`);
    }
    this.failures = 0;
    this.retryAt = 0;
    // Private key material never belongs in a JWKS; drop it rather than trust it.
    const keys = jwks.keys.filter((k) => !('d' in k));
    const fingerprint = JSON.stringify(keys.map((k) => [k.kid, k.kty, k.n, k.x, k.y, k.crv, k.alg, k.use]));
    this.fetchedAt = this.now();
    if (fingerprint !== this.fingerprint) {
      this.fingerprint = fingerprint;
      this.resolver = createLocalJWKSet({ keys });
      this.keyCount = keys.length;
      this.generation++;
    }
  }

  private backOff(error: string): void {
    this.failures++;
    this.lastError = error;
    const cap = this.config.jwks_backoff_max_s * 1000;
    const base = Math.max(this.config.jwks_cooldown_s, 1) * 1000;
    this.retryAt = this.now() + Math.min(base * 2 ** Math.min(this.failures - 1, 30), cap);
  }

  private async discover(): Promise<string> {
    const base = this.config.issuer.replace(/\/$/, '');
    const u = new URL(this.config.issuer);
    const candidates = [
      `${u.origin}/.well-known/oauth-authorization-server${u.pathname === '/' ? '' : u.pathname}`,
      `${base}/.well-known/openid-configuration`,
    ];
    let lastError: unknown;
    for (const url of candidates) {
      try {
        const meta = (await fetchJson(url, this.config.jwks_timeout_ms, this.config.jwks_max_bytes)) as { issuer?: unknown; jwks_uri?: unknown };
        // RFC 8414 §3.3: the metadata's issuer must equal the configured one exactly.
        if (meta.issuer !== this.config.issuer) throw new Error(`${url} names issuer ${String(meta.issuer)}`);
        if (typeof meta.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
        // Checked here, not only when fetched, so an insecure answer is never remembered.
        const insecure = insecureUrlReason(meta.jwks_uri);
        if (insecure) throw new Error(`${url} names a jwks_uri that is refused: ${insecure}`);
        return meta.jwks_uri;
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('discovery failed');
  }
}
