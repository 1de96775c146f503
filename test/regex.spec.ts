import { compileRegExp, foldCase, toJsRegExp } from '../src/evaluator/builtins/regex.js';

// Differential: a case-insensitive pattern rewritten for the linear engine must
// match exactly what JavaScript's own case-insensitive Unicode mode matches.
const PATTERNS = [
  'abc',
  '^admin$',
  'a[b-d]e',
  '[^a-z]+',
  '^[a-f0-9]{8}$',
  '(?<Name>x)\\d{2,3}',
  '^(read|write):[a-z_]+$',
  'key',
  'S+$',
  '[k-m]',
  '^[^A-Z0-9]*$',
  'refunds\\.create',
  'a.c',
  '[\\-a]',
  '^(a+)+$',
];

const SUBJECTS = [
  'abc', 'ABC', 'aBc', 'xabcx', 'admin', 'ADMIN', 'Admin ', 'abe', 'ACE', 'aEe', 'az', 'AZ', '09',
  'deadBEEF', 'DEADBEEG', 'x42', 'X42', 'Read:refunds', 'WRITE:Deploy_Prod', 'read:', 'KEY',
  '\u212aey', 'mis\u017f', 'MISS', 'l', 'L', '\u212a', 'hello', 'HELLO1', 'REFUNDS.CREATE', 'refundsXcreate',
  'A-C', 'aXc', '-', 'A', '', 'aaaa', 'AAAA!',
];

describe('host regexes: case-insensitive patterns on the linear engine', () => {
  it.each(PATTERNS)('%s matches exactly what Unicode case folding matches', (p) => {
    const folded = foldCase(p);
    expect(folded).toBeDefined();
    const linear = compileRegExp(p, 'i');
    expect(linear.flags).toContain('l');
    expect(linear.flags).not.toContain('i');
    const reference = new RegExp(p, 'ui');
    for (const s of SUBJECTS) {
      expect([s, linear.test(s)]).toEqual([s, reference.test(s)]);
    }
  });

  it('leaves to the backtracking engine what it does not rewrite, and still refuses backreferences', () => {
    expect(foldCase('caf\u00e9')).toBeUndefined();
    expect(foldCase('\\p{L}+')).toBeUndefined();
    expect(compileRegExp('caf\u00e9', 'i').test('CAF\u00c9')).toBe(true);
    expect(() => compileRegExp('(a)\\1', 'i')).toThrow(/backreferences/);
  });

  it('reads RE2 inline flags and named groups', () => {
    const re = toJsRegExp('(?i)^(?P<verb>get|list)_[a-z]+$');
    expect(re.flags).toContain('l');
    expect(re.exec('LIST_Tools')?.groups).toEqual({ verb: 'LIST' });
    expect(toJsRegExp('(?s)a.b').test('a\nb')).toBe(true);
    expect(toJsRegExp('a\\z').test('a\n')).toBe(false);
  });
});
