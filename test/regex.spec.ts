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
cf := {
  "deny": deny,
  "stripped": regex.replace(input.arg, \`\\p{Cf}\`, ""),
  "parts": regex.split(\`\\p{Cf}\`, input.arg),
  "schema": json.match_schema({"v": input.arg}, {"properties": {"v": {"pattern": "^[^\\\\p{Cf}]*$"}}})[0],
  "template": regex.template_match("x{[^\\\\p{Cf}]*}", concat("", ["x", input.arg]), "{", "}"),
}

# METADATA
# entrypoint: true
slug := {
  "ok": slug_ok,
  "parts": regex.split(\`-\`, input.slug),
  "schema": json.match_schema({"s": input.slug}, {"properties": {"s": {"pattern": "^([a-z0-9]{1,20}-?){1,8}$"}}})[0],
  "template": regex.template_match("id:{([a-z0-9]{1,20}-?){1,8}}", concat("", ["id:", input.slug]), "{", "}"),
}

# METADATA
# entrypoint: true
syntax := {
  "letters": regex.find_n(\`\\pL+\`, input.words, -1),
  "posix": regex.find_n(\`[[:alpha:]]+\`, input.words, -1),
  "quoted": regex.replace("a.*b a-b", \`\\Q.*\\E\`, "_"),
  "fold": regex.find_n(\`(?i)k+\`, "K\\u212ak", -1),
  "fold_greek": regex.find_n(\`(?i)σ+\`, "ΣΑΣ σας", -1),
  "counted": regex.find_n(\`[0-9]{2,3}\`, "1 12 1234 12345", -1),
  "backref": [x | x := regex.replace("aa", \`(a)\\1\`, "x")],
  "lookahead": [x | x := regex.split(\`a(?=b)\`, "ab")],
}

# METADATA
# entrypoint: true
long := {
  "units": [x | x := units.parse(input.digits)],
  "duration": [x | x := time.parse_duration_ns(input.digits)],
  "template": strings.render_template(input.template, {"x": "c"}),
  "unique": json.match_schema(input.items, {"uniqueItems": true}),
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

  // The engine before re2js took ~45 s on 64 characters, doubling with each one more:
  // on it this test does not finish. Here the answers are computed and checked.
  const hostileSlug = `${'a'.repeat(79)}!`;
  const goodSlug = 'release-2026-11-eu-west';

  it('a deny rule on \\p{Cf} fires on U+202E, and replace/split see the same character', () => {
    expect(policy.evaluate('guard/cf', { arg: 'invoice\u202Efdp.exe' }, CTX)).toEqual({
      deny: ['format characters in argument'],
      stripped: 'invoicefdp.exe',
      parts: ['invoice', 'fdp.exe'],
      schema: false,
      template: false,
    });
    expect(policy.evaluate('guard/cf', { arg: 'invoice.pdf' }, CTX)).toEqual({
      deny: [],
      stripped: 'invoice.pdf',
      parts: ['invoice.pdf'],
      schema: true,
      template: true,
    });
  });

  it('answers a counted-repetition pattern on a hostile argument, in every builtin that takes a pattern', () => {
    expect(policy.evaluate('guard/slug', { slug: hostileSlug }, CTX)).toEqual({ ok: false, schema: false, template: false, parts: [hostileSlug] });
    expect(policy.evaluate('guard/slug', { slug: goodSlug }, CTX)).toEqual({
      ok: true,
      schema: true,
      template: true,
      parts: ['release', '2026', '11', 'eu', 'west'],
    });
  });

  it('reads \\pL, [[:alpha:]], \\Q…\\E, (?i) Unicode folding and counted repetition as RE2 does', () => {
    expect(policy.evaluate('guard/syntax', { words: 'Ωmega café 42 naïve' }, CTX)).toEqual({
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

  it('keeps other host builtins linear on long inputs (units, durations, templates, uniqueItems)', () => {
    // Each took seconds to minutes before (quadratic backtracking in the number,
    // duration and trim patterns); the answers are computed and checked here.
    const n = 200_000;
    // uniqueItems keys items by their JSON text: ajv's own pairwise check took a minute on 20,000 objects.
    const items = [...Array.from({ length: 20_000 }, (_, i) => ({ id: i, tag: 'x' })), { tag: 'x', id: 7 }];
    const r = policy.evaluate('guard/long', { digits: `${'1'.repeat(n)}x`, template: `a${' '.repeat(n)}b {{- .x}}`, items }, CTX);
    const dup = { desc: 'array items[7,20000] must be unique', error: '(Root): array items[7,20000] must be unique', field: '(Root)', type: 'unique' };
    expect(r).toEqual({ units: [], duration: [], template: `a${' '.repeat(n)}bc`, unique: [false, [dup]] });
    expect(policy.evaluate('guard/long', { digits: '1.5', template: 'a {{- .x}}', items: [1, 2] }, CTX)).toEqual({
      units: [1.5],
      duration: [],
      template: 'ac',
      unique: [true, []],
    });
  });
});
