import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PolicyEvalError, PolicyLoadError } from '../src/evaluator/errors.js';
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { PolicyBuildError } from '../src/policy-compiler/errors.js';
import { DECISION_ENTRYPOINT } from '../src/contract/policy-contract.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { makeCert } from './support/certs.js';

const CTX = { nowNs: Date.parse('2026-11-26T10:00:00Z') * 1e6 };

async function buildAndLoad(ws: PolicyWorkspace, runTests = true): Promise<{ policy: WasmPolicy; revision: string }> {
  const built = await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out, runTests });
  const data = JSON.parse(built.files.get('/data.json')!.toString('utf8'));
  const policy = await WasmPolicy.load(built.files.get('/policy.wasm')!, data, {
    requiredEntrypoints: [DECISION_ENTRYPOINT],
  });
  return { policy, revision: built.revision };
}

async function expectBuildError(ws: PolicyWorkspace): Promise<PolicyBuildError> {
  try {
    await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyBuildError);
    return e as PolicyBuildError;
  }
  throw new Error('build unexpectedly succeeded');
}

const refund = (amount: unknown) => ({
  claims: { sub: 'alice', roles: ['support_agent'] },
  scopes: ['refunds:write'],
  server: 'demo',
  action: 'call',
  tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount, currency: 'USD' } },
  time: '2026-11-26T10:00:00Z',
});

describe('reference policy compiled to wasm and evaluated in-process', () => {
  let ws: PolicyWorkspace;
  beforeEach(async () => {
    ws = await policyWorkspace();
  });
  afterEach(() => ws.cleanup());

  it('allows, denies on argument limits, and asks for step-up', async () => {
    const { policy, revision } = await buildAndLoad(ws);
    expect(revision).toMatch(/^sha256-[0-9a-f]{16}$/);
    expect(policy.entrypoints).toContain(DECISION_ENTRYPOINT);

    expect(policy.evaluate(DECISION_ENTRYPOINT, refund(50), CTX)).toEqual({ allow: true, reasons: [], required_scopes: [] });
    expect(policy.evaluate(DECISION_ENTRYPOINT, refund(150), CTX)).toEqual({
      allow: false,
      reasons: ['argument "amount" = 150 exceeds the caller\'s limit of 100'],
      required_scopes: [],
    });
    const noScope = { ...refund(50), scopes: [] };
    expect(policy.evaluate(DECISION_ENTRYPOINT, noScope, CTX)).toMatchObject({ allow: false, required_scopes: ['refunds:write'] });
    const unknownTool = { ...refund(50), tool: { name: 'shell.exec', arguments: { cmd: 'rm -rf /' } } };
    const d = policy.evaluate(DECISION_ENTRYPOINT, unknownTool, CTX) as { allow: boolean; reasons: string[] };
    expect(d.allow).toBe(false);
    expect(d.reasons[0]).toContain('unknown tools are denied');
  });

  it('builds the same revision from the same sources and a new one after an edit', async () => {
    const a = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
    const b = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
    expect(b.revision).toBe(a.revision);
    const catalog = path.join(ws.policies, 'catalog/data.json');
    const data = JSON.parse(await readFile(catalog, 'utf8'));
    data.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.support_agent = 200;
    await ws.write('policies/catalog/data.json', JSON.stringify(data));
    const c = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
    expect(c.revision).not.toBe(a.revision);
  });

  it('a new tool added to the catalog is allowed for its role and nothing else', async () => {
    const catalog = path.join(ws.policies, 'catalog/data.json');
    const data = JSON.parse(await readFile(catalog, 'utf8'));
    data.servers.demo.tools['reports.export'] = {
      roles: ['finance'],
      scopes: ['reports:read'],
      required: ['month'],
      additional_arguments: false,
      arguments: { month: { type: 'string', max_length: 7 } },
    };
    await ws.write('policies/catalog/data.json', JSON.stringify(data));
    const { policy } = await buildAndLoad(ws);
    const input = {
      claims: { sub: 'fred', roles: ['finance'] },
      scopes: ['reports:read'],
      server: 'demo',
      action: 'call',
      tool: { name: 'reports.export', arguments: { month: '2026-10' } },
    };
    expect(policy.evaluate(DECISION_ENTRYPOINT, input, CTX)).toMatchObject({ allow: true });
    const asSupport = { ...input, claims: { sub: 'a', roles: ['support_agent'] } };
    expect(policy.evaluate(DECISION_ENTRYPOINT, asSupport, CTX)).toMatchObject({ allow: false });
  });

  it('runs host builtins with the decision time, not the wall clock', async () => {
    await ws.write(
      'policies/clock/clock.rego',
      [
        'package clock',
        '',
        '# METADATA',
        '# entrypoint: true',
        'now := time.now_ns()',
        '',
        '# METADATA',
        '# entrypoint: true',
        'digest := crypto.sha256(input.s)',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('clock/now', {}, CTX)).toBe(CTX.nowNs);
    expect(policy.evaluate('clock/digest', { s: 'abc' }, CTX)).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    // A builtin error is undefined (OPA's non-strict semantics), not a crash.
    expect(policy.evaluate('clock/digest', { s: 7 }, CTX)).toBeUndefined();
  });

  it('hands sets to host builtins as sets and takes sets back (object.subset, cidr_contains_matches)', async () => {
    await ws.write(
      'policies/sets/sets.rego',
      [
        'package sets',
        '',
        '# METADATA',
        '# entrypoint: true',
        'result := {',
        '  "set_in_set": object.subset({"a", "b", "c"}, {"a", "c"}),',
        '  "array_run": object.subset(["a", "b", "c"], ["a", "c"]),',
        '  "set_not_array": object.subset({"x": {"a", "b"}}, {"x": ["a", "b"]}),',
        '  "matches_is_set": is_set(net.cidr_contains_matches({"10.0.0.0/8"}, "10.1.2.3")),',
        '  "matches": net.cidr_contains_matches({"10.0.0.0/8", "192.168.0.0/16"}, {"10.1.2.3"}) == {["10.0.0.0/8", "10.1.2.3"]},',
        '}',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('sets/result', {}, CTX)).toEqual({
      set_in_set: true,
      // Arrays are compared as a contiguous run; sets by membership; a set never equals an array.
      array_run: false,
      set_not_array: false,
      matches_is_set: true,
      matches: true,
    });
  });

  it('validates tool arguments with JSON Schema, renders templates and parses Go time layouts', async () => {
    await ws.write(
      'policies/misc/misc.rego',
      [
        'package misc',
        '',
        'schema := {"type": "object", "properties": {"amount": {"type": "integer", "maximum": 100}}, "required": ["amount"]}',
        '',
        '# METADATA',
        '# entrypoint: true',
        'result := {',
        '  "ok": json.match_schema({"amount": 5}, schema),',
        '  "too_big": json.match_schema({"amount": 500}, schema),',
        '  "message": strings.render_template(`{{range $i, $r := .roles}}{{if $i}}, {{end}}{{$r}}{{end}} may not call {{.tool}}`, {"roles": ["a", "b"], "tool": "x"}),',
        '  "parsed": time.parse_ns("02 Jan 06 15:04 -0700", "02 Jun 17 19:00 -0700"),',
        '  "formatted": time.format([0, "UTC", "Mon Jan _2 15:04:05 2006"]),',
        // Nanosecond integers beyond 2^53 reach the time builtins exactly (as BigInt through the bridge).
        '  "exact_format": time.format(1670006453141828752),',
        '  "exact_add": time.add_date(1670006453141828752, 0, 0, 1) == 1670092853141828752,',
        '}',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('misc/result', {}, CTX)).toEqual({
      ok: [true, []],
      too_big: [false, [{ desc: 'Must be less than or equal to 100', error: 'amount: Must be less than or equal to 100', field: 'amount', type: 'number_lte' }]],
      message: 'a, b may not call x',
      parsed: 1496455200000000000,
      formatted: 'Thu Jan  1 00:00:00 1970',
      exact_format: '2022-12-02T18:40:53.141828752Z',
      exact_add: true,
    });
  });

  it('parses and verifies X.509 chains (SPIFFE URIs, DNS names, key usage) at the decision time', async () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date('2027-01-01T00:00:00Z');
    const root = makeCert({ cn: 'Test Root CA', org: 'toolgate tests', ca: true, notBefore: from, notAfter: to });
    const mid = makeCert({ cn: 'Test Intermediate CA', issuer: root, ca: true, notBefore: from, notAfter: to });
    const leaf = makeCert({
      cn: 'mcp-server',
      issuer: mid,
      dns: ['api.example.com'],
      uris: ['spiffe://example.org/ns/prod/sa/mcp'],
      eku: ['1.3.6.1.5.5.7.3.1'],
      notBefore: from,
      notAfter: to,
    });
    await ws.write(
      'policies/x509/x509.rego',
      [
        'package x509',
        '',
        'verify(opts) := crypto.x509.parse_and_verify_certificates_with_options(input.chain, opts)[0]',
        '',
        '# METADATA',
        '# entrypoint: true',
        'result := {',
        '  "cns": [c.Subject.CommonName | some c in crypto.x509.parse_certificates(input.chain)],',
        '  "org": crypto.x509.parse_certificates(input.chain)[0].Subject.Organization,',
        '  "leaf_uris": crypto.x509.parse_certificates(input.leaf)[0].URIStrings,',
        '  "verified": [c.Subject.CommonName | some c in crypto.x509.parse_and_verify_certificates(input.chain)[1]],',
        '  "broken_chain": crypto.x509.parse_and_verify_certificates(input.broken)[0],',
        '  "dns_ok": verify({"DNSName": "api.example.com"}),',
        '  "dns_wrong": verify({"DNSName": "evil.example.com"}),',
        '  "client_auth_only": verify({"KeyUsages": ["KeyUsageClientAuth"]}),',
        '  "expired": verify({"CurrentTime": input.later_ns}),',
        '}',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    const input = {
      chain: root.pem + mid.pem + leaf.pem,
      leaf: leaf.pem,
      broken: root.pem + leaf.pem, // the intermediate is missing
      later_ns: Date.parse('2027-06-01T00:00:00Z') * 1e6,
    };
    expect(policy.evaluate('x509/result', input, CTX)).toEqual({
      cns: ['Test Root CA', 'Test Intermediate CA', 'mcp-server'],
      org: ['toolgate tests'],
      leaf_uris: ['spiffe://example.org/ns/prod/sa/mcp'],
      verified: ['mcp-server', 'Test Intermediate CA', 'Test Root CA'],
      broken_chain: false,
      dns_ok: true,
      dns_wrong: false,
      client_auth_only: false,
      expired: false,
    });
    // The chain is checked at the decision's time, not the wall clock.
    expect(policy.evaluate('x509/result', input, { nowNs: Date.parse('2028-01-01T00:00:00Z') * 1e6 })).toMatchObject({ verified: [] });
  });

  it('runs host regexes in linear time and rejects what RE2 rejects', async () => {
    await ws.write(
      'policies/re/re.rego',
      [
        'package re',
        '',
        '# METADATA',
        '# entrypoint: true',
        'result := {',
        // A catastrophic pattern for a backtracking engine; the input is attacker-sized.
        '  "find": regex.find_n(`^(a+)+$`, input.s, -1),',
        '  "schema": json.match_schema({"v": input.s}, {"properties": {"v": {"type": "string", "pattern": "^(a+)+$"}}})[0],',
        '  "template": regex.template_match("id:{(a+)+}", concat("", ["id:", input.s]), "{", "}"),',
        '  "replace": regex.replace("a-b-c", `(?P<x>-)`, "+"),',
        '  "backref": [x | x := regex.replace("aa", `(a)\\1`, "x")],',
        '  "lookahead": [x | x := regex.find_n(`a(?=b)`, "ab", -1)],',
        '}',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('re/result', { s: `${'a'.repeat(5000)}!` }, CTX)).toEqual({
      find: [],
      schema: false,
      template: false,
      replace: 'a+b+c',
      backref: [],
      lookahead: [],
    });
  });

  it('parses and validates GraphQL with the host graphql builtins', async () => {
    await ws.write(
      'policies/gql/gql.rego',
      [
        'package gql',
        '',
        'schema := `type Query { user(id: ID!): User } type User { id: ID! name: String }`',
        '',
        '# METADATA',
        '# entrypoint: true',
        'result := {',
        '  "ok": graphql.is_valid(`{ user(id: "1") { name } }`, schema),',
        '  "missing_arg": graphql.is_valid(`{ user { name } }`, schema),',
        '  "unknown_field": graphql.is_valid(`{ user(id: "1") { email } }`, schema),',
        '  "fields": [f.Name | f := graphql.parse_query(`{ a b }`).Operations[0].SelectionSet[_]],',
        '}',
        '',
      ].join('\n'),
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('gql/result', {}, CTX)).toEqual({ ok: true, missing_arg: false, unknown_field: false, fields: ['a', 'b'] });
  });

  it('fails at build time, with name and file:line, for a builtin the runtime lacks', async () => {
    await ws.write(
      'policies/mcp/authz/network.rego',
      'package mcp.authz\n\n_remote := http.send({"method": "GET", "url": "http://127.0.0.1:1/"})\n',
    );
    const err = await expectBuildError(ws);
    expect(err.step).toBe('check');
    expect(err.message).toContain('http.send');
    expect(err.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ file: 'mcp/authz/network.rego', line: 3 })]),
    );
  });

  it('fails at build time on a syntax error with file:line', async () => {
    await ws.write('policies/mcp/authz/broken.rego', 'package mcp.authz\n\n_x := {\n');
    const err = await expectBuildError(ws);
    expect(err.code).toBe('policy_check_failed');
    expect(err.problems[0]).toMatchObject({ file: 'mcp/authz/broken.rego' });
    expect(err.message).toMatch(/rego_parse_error/);
  });

  it('refuses to build when the Rego tests fail', async () => {
    await ws.write(
      'rego-tests/mcp/authz/extra_test.rego',
      'package mcp.authz_test\n\nimport data.mcp.authz\n\ntest_wrong if {\n\tauthz.decision.allow with input as {}\n}\n',
    );
    const err = await expectBuildError(ws);
    expect(err.step).toBe('test');
    expect(err.code).toBe('policy_tests_failed');
    expect(err.message).toContain('test_wrong');
  });

  it('refuses a policy without the decision entrypoint', async () => {
    const src = await readFile(path.join(ws.policies, 'mcp/authz/decision.rego'), 'utf8');
    await ws.write('policies/mcp/authz/decision.rego', src.replace('# entrypoint: true\n', ''));
    const err = await expectBuildError(ws);
    expect(err.code).toBe('entrypoint_missing');
  });

  it('refuses to load a module missing the entrypoint or with unknown host builtins', async () => {
    const built = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
    const wasm = built.files.get('/policy.wasm')!;
    await expect(WasmPolicy.load(wasm, {}, { requiredEntrypoints: ['mcp/authz/other'] })).rejects.toMatchObject({
      code: 'load_missing_entrypoint',
    });
    await expect(WasmPolicy.load(Buffer.from('not wasm'), {})).rejects.toBeInstanceOf(PolicyLoadError);
    await expect(WasmPolicy.load(wasm, [])).rejects.toMatchObject({ code: 'load_data_invalid' });
  });

  it('turns an evaluation error into a typed PolicyEvalError', async () => {
    // Two conflicting values for a complete rule: OPA aborts evaluation.
    await ws.write(
      'policies/conflict/conflict.rego',
      'package conflict\n\n# METADATA\n# entrypoint: true\nv := 1 if input.a\n\nv := 2 if input.b\n',
    );
    const { policy } = await buildAndLoad(ws, false);
    expect(policy.evaluate('conflict/v', { a: true }, CTX)).toBe(1);
    let thrown: unknown;
    try {
      policy.evaluate('conflict/v', { a: true, b: true }, CTX);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(PolicyEvalError);
    expect(thrown).toMatchObject({ code: 'eval_aborted' });
    // The instance stays usable after an abort.
    expect(policy.evaluate('conflict/v', { b: true }, CTX)).toBe(2);
    expect(() => policy.evaluate('nope/x', {}, CTX)).toThrow(expect.objectContaining({ code: 'eval_entrypoint_unknown' }));
  });
});
