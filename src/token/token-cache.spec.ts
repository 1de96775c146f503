import { TokenCache } from './token-cache.js';

const entry = (value: string, expiresAt = Date.now() + 60_000) => ({ value, expiresAt, issuer: 'https://issuer.example', generation: 1 });
const generation = () => 1;
/** Tokens that share their last 32 characters (the map key's part of a token) and differ before. */
const tail = 'S'.repeat(40);
const tokenOf = (name: string) => `h.${name}.${tail}`;

describe('TokenCache', () => {
  it('hits only for the whole token and server it was filled for, even when two tokens share a map key', () => {
    const cache = new TokenCache<string>(10);
    cache.set('demo', tokenOf('alice'), entry('alice'));
    expect(cache.get('demo', tokenOf('alice'), generation)).toBe('alice');
    expect(cache.get('demo', tokenOf('mallory'), generation)).toBeUndefined();
    expect(cache.get('other', tokenOf('alice'), generation)).toBeUndefined();
    // A second token with the same key takes the slot; the first is then a miss, never the second's facts.
    cache.set('demo', tokenOf('bob'), entry('bob'));
    expect(cache.get('demo', tokenOf('bob'), generation)).toBe('bob');
    expect(cache.get('demo', tokenOf('alice'), generation)).toBeUndefined();
  });

  it('evicts the least recently used entry: a hit keeps an entry that would otherwise be the oldest', () => {
    const cache = new TokenCache<string>(4);
    for (const t of ['a', 'b', 'c', 'd']) cache.set('demo', `${'x'.repeat(40)}.token-${t}`, entry(t));
    // a is the oldest of a full cache: this hit must move it.
    expect(cache.get('demo', `${'x'.repeat(40)}.token-a`, generation)).toBe('a');
    cache.set('demo', `${'x'.repeat(40)}.token-e`, entry('e'));
    expect(cache.size).toBe(4);
    expect(cache.get('demo', `${'x'.repeat(40)}.token-a`, generation)).toBe('a');
    expect(cache.get('demo', `${'x'.repeat(40)}.token-b`, generation)).toBeUndefined();
  });

  it('drops an entry at its exp and when the issuer key set changed', () => {
    const cache = new TokenCache<string>(4);
    const now = Date.now();
    cache.set('demo', tokenOf('a'), entry('a', now + 1000));
    expect(cache.get('demo', tokenOf('a'), generation, now + 1000)).toBeUndefined();
    cache.set('demo', tokenOf('a'), entry('a', now + 1000));
    expect(cache.get('demo', tokenOf('a'), () => 2, now)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
