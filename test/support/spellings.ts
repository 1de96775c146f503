const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SEGMENTS = ['header', 'payload', 'signature'] as const;

/** One non-canonical spelling of a compact JWS: which segment, how, and the spelled JWS. */
export interface Spelling {
  name: string;
  segment: (typeof SEGMENTS)[number];
  jws: string;
}

/**
 * Every other way a lenient base64url decoder reads the same bytes from the
 * segments of `jws`: `=` padding, a space or a tab inside, and the last
 * character with its lowest unused bit flipped. Each decodes (Buffer,
 * base64url) to exactly the bytes of the canonical segment (checked here).
 * Signature spellings come first.
 */
export function spellings(jws: string): Spelling[] {
  const parts = jws.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const out: Spelling[] = [];
  // The signature first: only its spellings pass a lenient verifier (the others change the signing input).
  for (const i of [2, 0, 1]) {
    const seg = parts[i];
    const segment = SEGMENTS[i];
    const spell = (name: string, s: string) => {
      if (!Buffer.from(s, 'base64url').equals(Buffer.from(seg, 'base64url'))) throw new Error(`${name} of the ${segment} is not an alias`);
      const p = [...parts];
      p[i] = s;
      out.push({ name: `${segment}: ${name}`, segment, jws: p.join('.') });
    };
    const mid = Math.floor(seg.length / 2);
    spell('a space inside', `${seg.slice(0, mid)} ${seg.slice(mid)}`);
    spell('a tab inside', `${seg.slice(0, mid)}\t${seg.slice(mid)}`);
    const rest = seg.length % 4;
    if (rest > 1) {
      spell('= padding', seg + '='.repeat(4 - rest));
      const last = ALPHABET.indexOf(seg[seg.length - 1]);
      spell('an unused bit set in the last character', seg.slice(0, -1) + ALPHABET[last ^ 1]);
    }
  }
  return out;
}
