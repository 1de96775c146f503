import { randomBytes } from 'node:crypto';
import { base64urlProblem, compactJwsProblem } from './base64url.js';

describe('base64urlProblem: only the spelling a conforming encoder writes', () => {
  it('accepts what Buffer writes for every length 0..40, and nothing else decoding to the same bytes', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = randomBytes(n);
      const s = bytes.toString('base64url');
      expect(base64urlProblem(s)).toBeUndefined();
      // Every other last character that decodes to the same bytes (the unused bits differ) is refused.
      if (s.length % 4 > 1) {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const aliases = [...alphabet].map((c) => s.slice(0, -1) + c).filter((a) => a !== s && Buffer.from(a, 'base64url').equals(bytes));
        expect(aliases.length).toBe(s.length % 4 === 2 ? 15 : 3);
        for (const a of aliases) expect(base64urlProblem(a)).toBe('has unused bits set in its last character');
      }
    }
  });

  it.each([
    ['padding', 'QQ==', 'has padding (=)'],
    ['one pad', 'QUI=', 'has padding (=)'],
    ['a space', 'QU I', 'contains whitespace'],
    ['a tab', 'QU\tI', 'contains whitespace'],
    ['a newline', 'QUI\n', 'contains whitespace'],
    ['a CR', 'Q\rUI', 'contains whitespace'],
    ['+ (base64, not base64url)', 'a+b_', 'has a character outside the base64url alphabet (A-Z a-z 0-9 - _)'],
    ['/ (base64, not base64url)', 'a/b-', 'has a character outside the base64url alphabet (A-Z a-z 0-9 - _)'],
    ['a non-ASCII letter', 'QUé', 'has a character outside the base64url alphabet (A-Z a-z 0-9 - _)'],
    ['4n+1 characters', 'QUJDR', 'has an impossible length (5 characters: no byte string encodes to 4n+1)'],
    ['unused bits after 1 byte', 'QR', 'has unused bits set in its last character'],
    ['unused bits after 2 bytes', 'QUJ', 'has unused bits set in its last character'],
  ])('refuses %s', (_name, s, problem) => {
    expect(base64urlProblem(s)).toBe(problem);
  });

  it('names the segment of a compact JWS', () => {
    expect(compactJwsProblem('QQ.QUI.QUJD')).toBeUndefined();
    expect(compactJwsProblem('QQ==.QUI.QUJD')).toBe('header is not canonical base64url (RFC 7515): it has padding (=)');
    expect(compactJwsProblem('QQ.QUJ.QUJD')).toBe('payload is not canonical base64url (RFC 7515): it has unused bits set in its last character');
    expect(compactJwsProblem('QQ.QUI.QU JD')).toBe('signature is not canonical base64url (RFC 7515): it contains whitespace');
    expect(compactJwsProblem('QQ.QUI')).toBe('segments are 2, not 3 (a compact JWS is header.payload.signature)');
  });
});
