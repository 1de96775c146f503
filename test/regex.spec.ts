import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

const CTX = { nowNs: Date.parse('2026-11-26T10:00:00Z') * 1e6 };

// Policies supply the patterns, inputs supply the text: both through the real
// compiled wasm policy and toolgate's host builtins.
const GUARD = `package guard

# Bidi overrides and zero-width characters (Unicode Cf) in an argument are refused.
deny contains "format characters in argument" if {
  regex.find_n(\`\\p{Cf}\`, input.arg, 1) != []
}

# A slug of up to eight dash-separated words: catastrophic for a backtracking engine.
slug_ok := regex.find_n(\`^([a-z0-9]{1,20}-?){1,8}$\`, input.slug, 1) != []

# METADATA
# entrypoint: true
result := {
  "deny": deny,
  "stripped": regex.replace(input.arg, \`\\p{Cf}\`, ""),
  "parts": regex.split(\`\\p{Cf}\`, input.arg),
  "slug_ok": slug_ok,
  "slug_parts": regex.split(\`-\`, input.slug),
  "slug_schema": json.match_schema({"s": input.slug}, {"properties": {"s": {"pattern": "^([a-z0-9]{1,20}-?){1,8}$"}}})[0],
  "slug_template": regex.template_match("id:{([a-z0-9]{1,20}-?){1,8}}", concat("", ["id:", input.slug]), "{", "}"),
  "letters": regex.find_n(\`\\pL+\`, input.words, -1),
  "posix": regex.find_n(\`[[:alpha:]]+\`, input.words, -1),
  "quoted": regex.replace("a.*b a-b", \`\\Q.*\\E\`, "_"),
  "fold": regex.find_n(\`(?i)k+\`, "K\\u212ak", -1),
  "fold_greek": regex.find_n(\`(?i)σ+\`, "ΣΑΣ σας", -1),
  "counted": regex.find_n(\`[0-9]{2,3}\`, "1 12 1234 12345", -1),
  "schema_cf": json.match_schema({"v": input.arg}, {"properties": {"v": {"pattern": "^[^\\\\p{Cf}]*$"}}})[0],
  "template_cf": regex.template_match("x{[^\\\\p{Cf}]*}", concat("", ["x", input.arg]), "{", "}"),
  "backref": [x | x := regex.replace("aa", \`(a)\\1\`, "x")],
  "lookahead": [x | x := regex.split(\`a(?=b)\`, "ab")],
}
`;

describe('host regexes: RE2 syntax and linear time through the compiled policy', () => {
  let ws: PolicyWorkspace;
  let policy: WasmPolicy;

  beforeAll(async () => {
    ws = await policyWorkspace();
    await ws.write('policies/guard/guard.rego', GUARD);
    const built = await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out, runTests: false });
    policy = await WasmPolicy.load(built.files.get('/policy.wasm')!, JSON.parse(built.files.get('/data.json')!.toString('utf8')));
  }, 120_000);

  afterAll(() => ws.cleanup());

  // 64 characters: far past what the backtracking engine finishes (45 took ~9 s there).
  const hostileSlug = `${'a'.repeat(63)}!`;
  const goodSlug = 'release-2026-11-eu-west';

  it('a deny rule on \\p{Cf} fires on U+202E, and replace/split see the same character', () => {
    const r = policy.evaluate('guard/result', { arg: 'invoice\u202Efdp.exe', slug: goodSlug, words: '' }, CTX) as Record<string, unknown>;
    expect(r.deny).toEqual(['format characters in argument']);
    expect(r.stripped).toBe('invoicefdp.exe');
    expect(r.parts).toEqual(['invoice', 'fdp.exe']);
    expect(r.schema_cf).toBe(false);
    expect(r.template_cf).toBe(false);
    const clean = policy.evaluate('guard/result', { arg: 'invoice.pdf', slug: goodSlug, words: '' }, CTX) as Record<string, unknown>;
    expect(clean.deny).toEqual([]);
    expect(clean.schema_cf).toBe(true);
    expect(clean.template_cf).toBe(true);
  });

  it('answers a counted-repetition pattern on a hostile argument, in every builtin that takes a pattern', () => {
    const bad = policy.evaluate('guard/result', { arg: '', slug: hostileSlug, words: '' }, CTX) as Record<string, unknown>;
    expect(bad).toMatchObject({ slug_ok: false, slug_schema: false, slug_template: false, slug_parts: [hostileSlug] });
    const good = policy.evaluate('guard/result', { arg: '', slug: goodSlug, words: '' }, CTX) as Record<string, unknown>;
    expect(good).toMatchObject({ slug_ok: true, slug_schema: true, slug_template: true, slug_parts: ['release', '2026', '11', 'eu', 'west'] });
  });

  it('reads \\pL, [[:alpha:]], \\Q…\\E, (?i) Unicode folding and counted repetition as RE2 does', () => {
    const r = policy.evaluate('guard/result', { arg: '', slug: goodSlug, words: 'Ωmega café 42 naïve' }, CTX) as Record<string, unknown>;
    expect(r).toMatchObject({
      letters: ['Ωmega', 'café', 'naïve'],
      posix: ['mega', 'caf', 'na', 've'], // POSIX classes are ASCII in RE2
      quoted: 'a_b a-b',
      fold: ['K\u212ak'], // K, KELVIN SIGN and k fold together
      fold_greek: ['Σ', 'Σ', 'σ', 'ς'], // final sigma folds with sigma
      counted: ['12', '123', '123', '45'],
      backref: [],
      lookahead: [],
    });
  });
});
