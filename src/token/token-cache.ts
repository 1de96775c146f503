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

/**
 * Bounded LRU of verified tokens. Keyed by a hash of the whole token plus the
 * server it was verified for (audience is per server). Entries never outlive
 * the token's `exp` and are ignored once the issuer's keys changed.
 */
export class TokenCache<T> {
  private readonly entries = new Map<string, CachedToken<T>>();

  constructor(private readonly maxEntries: number) {}

  /** The cached value, unless expired or verified with keys the issuer no longer has (`generationOf`). */
  get(key: string, generationOf: (issuer: string) => number, now = Date.now()): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now || e.generation !== generationOf(e.issuer)) {
      this.entries.delete(key);
      return undefined;
    }
    // Refresh recency: Map iteration order is insertion order.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, entry: CachedToken<T>): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(key);
    this.entries.set(key, entry);
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
