/** A verified token's facts, as cached. */
export interface CachedToken<T> {
  value: T;
  /** Epoch ms after which the entry must not be used (the token's exp). */
  expiresAt: number;
  /** Issuer whose keys verified the token. */
  issuer: string;
  /** That issuer's key-set generation at verification time. */
  generation: number;
}

/** An entry with what it was cached for: the whole token and the server. */
interface Entry<T> extends CachedToken<T> {
  serverId: string;
  token: string;
  /** Its place in insertion order (TokenCache.seq when it was last inserted). */
  seq: number;
}

/**
 * How many characters of a token's end the map key holds. A compact JWS ends
 * with its signature, so the last 32 characters (192 bits) differ between any
 * two tokens an issuer signed.
 */
const KEY_TAIL = 32;

/**
 * Bounded LRU of verified tokens, per server (audience is per server). Entries
 * never outlive the token's `exp` and are ignored once the issuer's keys changed.
 *
 * Why no digest of the token: a hit requires the cached entry's whole token and
 * server id to equal the request's (string equality), which is exactly the
 * guarantee a collision-resistant digest gave, without a SHA-256 per request
 * (about 5 µs of CPU per decision over HTTP). The Map is keyed by the server id
 * and the token's last KEY_TAIL characters only because V8 hashes a long string
 * key character by character on every lookup (a fresh string per request: as
 * slow as the SHA-256 it replaces). Two different tokens with one key simply
 * share a slot: the equality check turns the lookup into a miss (full
 * verification), and the later one replaces the earlier one. Crafting such
 * tokens gains nothing: lookups never insert, only a token that verified
 * (signed by a trusted issuer) becomes an entry. Memory stays bounded: at
 * most `max_entries` tokens of at most `limits.token_bytes` characters, next
 * to the claims every entry already holds (about three quarters of the token's size).
 */
export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Insertions so far: Map iteration order is insertion order, so the oldest entry is the first. */
  private seq = 0;

  constructor(private readonly maxEntries: number) {}

  private static key(serverId: string, token: string): string {
    return `${serverId}\0${token.length > KEY_TAIL ? token.slice(-KEY_TAIL) : token}`;
  }

  /** The cached value for `token` verified for `serverId`, unless expired or verified with keys the issuer no longer has (`generationOf`). */
  get(serverId: string, token: string, generationOf: (issuer: string) => number, now = Date.now()): T | undefined {
    const key = TokenCache.key(serverId, token);
    const e = this.entries.get(key);
    if (!e || e.token !== token || e.serverId !== serverId) return undefined;
    if (e.expiresAt <= now || e.generation !== generationOf(e.issuer)) {
      this.entries.delete(key);
      return undefined;
    }
    // Refresh recency only once the entry is in the older half: an entry with at most
    // maxEntries / 2 newer ones cannot be the oldest of a full cache. Moving it on every
    // hit (a delete and a set) cost more than the rest of the lookup.
    if (this.seq - e.seq > this.maxEntries >> 1) {
      this.entries.delete(key);
      e.seq = this.seq++;
      this.entries.set(key, e);
    }
    return e.value;
  }

  set(serverId: string, token: string, entry: CachedToken<T>): void {
    if (this.maxEntries === 0) return;
    const key = TokenCache.key(serverId, token);
    this.entries.delete(key);
    this.entries.set(key, { ...entry, serverId, token, seq: this.seq++ });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
