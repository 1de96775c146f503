/** A verified token's facts, as cached. */
export interface CachedToken<T> {
  value: T;
  /** Epoch ms after which the entry must not be used (the token's exp). */
  expiresAt: number;
  /** Key-set generation the token was verified against. */
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

  get(key: string, generation: number, now = Date.now()): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now || e.generation !== generation) {
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
