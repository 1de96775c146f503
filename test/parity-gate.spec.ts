import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureCapabilitiesFile } from '../src/policy-compiler/capabilities.js';
import { PolicyBuildError } from '../src/policy-compiler/errors.js';
import { runRegoTests } from '../src/policy-compiler/opa-test-results.js';
import { checkParity, type ParityReport, type ParityRuntime } from '../src/policy-compiler/parity.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp } from './support/app.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { sdkSprintfRuntime } from './support/sdk-sprintf-runtime.js';
import { waitFor } from './support/wait.js';

const EXAMPLE = path.join(ROOT, 'examples/parity-divergence');
const EXAMPLE_TEST_FILE = 'examples/parity-divergence/tests/mcp/authz/decision_test.rego';

/** opa test, then the parity check, as the gate runs them. */
async function gate(policyDir: string, testDir: string, outDir: string, runtime?: ParityRuntime): Promise<ParityReport> {
  const capabilities = await ensureCapabilitiesFile(path.join(outDir, 'capabilities'));
  const tests = await runRegoTests({ policyDir, testDir });
  return checkParity({ policyDir, testDir, outDir, capabilities, tests, runtime });
}

async function buildError(run: () => Promise<unknown>): Promise<PolicyBuildError> {
  try {
    await run();
  } catch (e) {
    if (e instanceof PolicyBuildError) return e;
    throw e;
  }
  throw new Error('the build was not refused');
}

const outcome = (r: ParityReport, test: string) => r.outcomes.find((o) => o.test === test);

describe('parity gate: Rego tests must also pass through the wasm runtime production uses', () => {
  let out: string;
  let ws: PolicyWorkspace;

  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'toolgate-parity-'));
  });
  afterAll(() => rm(out, { recursive: true, force: true }));
  beforeEach(async () => {
    ws = await policyWorkspace();
  });
  afterEach(() => ws.cleanup());

  it("checks every test and case of the reference policy, and all of them pass under wasm", async () => {
    const tests = await runRegoTests({ policyDir: path.join(ROOT, 'policies'), testDir: path.join(ROOT, 'rego-tests') });
    const report = await gate(path.join(ROOT, 'policies'), path.join(ROOT, 'rego-tests'), out);
    const expected = tests.reduce((n, t) => n + (t.cases?.length ?? 1), 0);
    expect(report.notChecked).toBe(0);
    expect(report.diverged).toBe(0);
    expect(report.passed).toBe(expected);
    expect(outcome(report, 'data.mcp.authz_test.test_denied["refund above support limit"]')).toMatchObject({
      status: 'passed',
      file: 'rego-tests/mcp/authz/decision_test.rego',
      wasm: 'true',
    });
  });

  it('refuses the shipped example: a test green under opa test, undefined under wasm, named with file:line and both results', async () => {
    const err = await buildError(() =>
      buildPolicyBundle({ policyDir: path.join(EXAMPLE, 'policies'), testDir: path.join(EXAMPLE, 'tests'), outDir: out }),
    );
    expect(err.step).toBe('parity');
    expect(err.code).toBe('policy_parity_failed');
    expect(err.message).toContain(
      `data.mcp.authz_test.test_huge_amount_is_named_in_the_reason at ${EXAMPLE_TEST_FILE}:22: topdown true, wasm undefined`,
    );
    expect(err.problems).toEqual([
      { file: EXAMPLE_TEST_FILE, line: 22, message: 'data.mcp.authz_test.test_huge_amount_is_named_in_the_reason: topdown true, wasm undefined' },
    ]);
  });

  it("catches the SDK's original sprintf (sprintf-js: no %q, JS formatting for %v): the example and the reference policy diverge under it, not under toolgate's", async () => {
    const example = await gate(path.join(EXAMPLE, 'policies'), path.join(EXAMPLE, 'tests'), out, sdkSprintfRuntime);
    expect(outcome(example, 'data.mcp.authz_test.test_above_limit_names_amount_and_limit')).toMatchObject({
      status: 'diverged',
      line: 14,
      topdown: 'true',
      wasm: expect.stringMatching(/^error: .*unexpected placeholder/),
    });
    const production = await gate(path.join(EXAMPLE, 'policies'), path.join(EXAMPLE, 'tests'), out);
    expect(outcome(production, 'data.mcp.authz_test.test_above_limit_names_amount_and_limit')?.status).toBe('passed');

    const reference = await gate(path.join(ROOT, 'policies'), path.join(ROOT, 'rego-tests'), out, sdkSprintfRuntime);
    expect(outcome(reference, 'data.mcp.authz_test.test_denied["refund above support limit"]')?.status).toBe('diverged');
    expect(outcome(reference, 'data.mcp.authz_test.test_allowed["invoice read"]')?.status).toBe('passed');
  });

  it('reports a test that cannot compile to wasm as "not checked (reason)", never as passed, and still checks the rest', async () => {
    const report = await gate(path.join(EXAMPLE, 'policies'), path.join(EXAMPLE, 'tests'), out);
    expect(outcome(report, 'data.mcp.authz_test.test_string_amount_is_refused')).toMatchObject({
      status: 'not_checked',
      line: 29,
      reason: expect.stringContaining(`${EXAMPLE_TEST_FILE}:30: rego_type_error: undefined function trace`),
    });
    expect(report).toMatchObject({ passed: 2, diverged: 1, notChecked: 1 });

    // A mocked network builtin and a helper that calls one: excluded; the gate does not block on them.
    await ws.write(
      'rego-tests/mcp/authz/mocked_test.rego',
      [
        'package mcp.authz_test',
        '',
        'import data.mcp.authz',
        '',
        '_fetch := http.send({"method": "GET", "url": "http://127.0.0.1:1"})',
        '',
        'test_uses_a_mocked_helper if _fetch.status_code == 200 with http.send as {"status_code": 200}',
        '',
        'test_mocks_http_send if {',
        '\tr := http.send({"method": "GET", "url": "http://127.0.0.1:1"}) with http.send as {"status_code": 201}',
        '\tr.status_code == 201',
        '}',
        '',
        'test_next_to_them if authz.decision.allow == false with input as {}',
        '',
      ].join('\n'),
    );
    const mocked = await gate(ws.policies, ws.tests, out);
    expect(outcome(mocked, 'data.mcp.authz_test.test_mocks_http_send')).toMatchObject({
      status: 'not_checked',
      reason: expect.stringMatching(/mocked_test\.rego:10: .*with keyword target.*not in the capabilities/),
    });
    expect(outcome(mocked, 'data.mcp.authz_test.test_uses_a_mocked_helper')?.status).toBe('not_checked');
    expect(outcome(mocked, 'data.mcp.authz_test.test_next_to_them')?.status).toBe('passed');
    expect(mocked.notes).toEqual([expect.stringMatching(/mocked_test\.rego:5 left out of the parity build: .*undefined function http\.send/)]);
    expect(mocked.diverged).toBe(0);
    const built = await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out });
    expect(built.parity?.notChecked).toBe(2);
  });

  it('judges a table-driven test case by case, as opa test does', async () => {
    await ws.write(
      'rego-tests/mcp/authz/table_test.rego',
      [
        'package mcp.authz_test',
        '',
        'import data.mcp.authz',
        '',
        'test_limit_reasons[note] if {',
        '\tsome tc in [',
        '\t\t{"note": "small", "amount": 150, "reason": "argument \\"amount\\" = 150 exceeds the caller\'s limit of 100"},',
        '\t\t{"note": "huge", "amount": 1e400, "reason": "argument \\"amount\\" = 1e400 exceeds the caller\'s limit of 100"},',
        '\t]',
        '\tnote := tc.note',
        '\td := authz.decision with input as _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": tc.amount})))',
        '\ttc.reason in d.reasons',
        '}',
        '',
      ].join('\n'),
    );
    const err = await buildError(() => buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out }));
    expect(err.step).toBe('parity');
    expect(err.problems.map((p) => p.message)).toEqual(['data.mcp.authz_test.test_limit_reasons["huge"]: topdown true, wasm undefined']);
    expect(err.problems[0]).toMatchObject({ file: expect.stringMatching(/table_test\.rego$/), line: 5 });
  });

  it('checks the `with` forms Rego tests use: input, input paths, data, rules, functions and builtins', async () => {
    await ws.write(
      'rego-tests/mcp/authz/with_test.rego',
      [
        'package mcp.authz_test',
        '',
        'import data.mcp.authz',
        '',
        '_engineer_roles(_) := {"engineer"}',
        '',
        'test_with_input_path if authz.roles == {"finance"} with input.claims.roles as ["finance"]',
        'test_with_data_document if "support_agent" in authz.roles with input as {"scopes": ["x"]} with data.catalog.scope_roles as {"x": ["support_agent"]}',
        'test_with_rule if authz.decision.allow == false with authz.roles as set() with input as _call(_support, ["refunds:write"], _refund(_ok_refund))',
        'test_with_function if sort(["b", "a"]) == ["z"] with sort as _sorted',
        '_sorted(_) := ["z"]',
        'test_with_builtin_value if time.now_ns() == 7 with time.now_ns as 7',
        'test_with_nested if {',
        '\td := authz.decision with input as _list(_engineer, [], "deploy.trigger") with data.catalog.scope_roles as {}',
        '\td.allow',
        '}',
        '',
      ].join('\n'),
    );
    const report = await gate(ws.policies, ws.tests, out);
    const withTests = report.outcomes.filter((o) => o.file.endsWith('with_test.rego'));
    expect(withTests.map((o) => [o.test.replace('data.mcp.authz_test.', ''), o.status])).toEqual([
      ['test_with_input_path', 'passed'],
      ['test_with_data_document', 'passed'],
      ['test_with_rule', 'passed'],
      ['test_with_function', 'passed'],
      ['test_with_builtin_value', 'passed'],
      ['test_with_nested', 'passed'],
    ]);
  });

  it('fails closed when the test build fails for a reason no test accounts for', async () => {
    const tests = await runRegoTests({ policyDir: ws.policies, testDir: ws.tests });
    const err = await buildError(() =>
      checkParity({ policyDir: ws.policies, testDir: ws.tests, outDir: out, capabilities: path.join(ws.dir, 'missing-capabilities.json'), tests }),
    );
    expect(err).toMatchObject({ step: 'parity', code: 'policy_parity_error' });
    expect(err.message).toContain('missing-capabilities.json');
  });

  it('does not check a test name defined twice (opa test runs each definition alone; wasm merges them)', async () => {
    await ws.write('rego-tests/mcp/authz/twice_test.rego', 'package mcp.authz_test\n\ntest_twice if true\n\ntest_twice if 1 == 1\n');
    const report = await gate(ws.policies, ws.tests, out);
    const twice = report.outcomes.filter((o) => o.test.includes('test_twice'));
    expect(twice.map((o) => o.status)).toEqual(['not_checked', 'not_checked']);
    expect(twice[0].reason).toContain('defined more than once');
  });

  it('source mode: a diverging test blocks activation; /v1/status names it at step "parity" and the last good revision stays', async () => {
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const resource = 'http://127.0.0.1:3998/mcp';
    const app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, debounce_ms: 50 } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [idp.issuer] }],
    });
    type Status = { active: { revision: string } | null; last_failure: { step: string; code: string; message: string; problems: { file?: string; line?: number; message: string }[] } | null };
    const status = async () => (await app.get('/v1/status')).body as Status;
    try {
      const good = (await status()).active?.revision;
      expect(good).toBeTruthy();
      await ws.write(
        'rego-tests/mcp/authz/huge_test.rego',
        [
          'package mcp.authz_test',
          '',
          'import data.mcp.authz',
          '',
          'test_huge_refund_is_named if {',
          '\td := authz.decision with input as _call(_support, ["refunds:write"], _refund(object.union(_ok_refund, {"amount": 1e400})))',
          '\t"argument \\"amount\\" = 1e400 exceeds the caller\'s limit of 100" in d.reasons',
          '}',
          '',
        ].join('\n'),
      );
      const failure = await waitFor(async () => (await status()).last_failure, 20_000, 'a parity failure');
      expect(failure).toMatchObject({ step: 'parity', code: 'policy_parity_failed' });
      expect(failure.message).toContain('data.mcp.authz_test.test_huge_refund_is_named at ');
      expect(failure.message).toContain('huge_test.rego:5: topdown true, wasm undefined');
      expect(failure.problems).toEqual([
        expect.objectContaining({ file: expect.stringMatching(/huge_test\.rego$/), line: 5, message: 'data.mcp.authz_test.test_huge_refund_is_named: topdown true, wasm undefined' }),
      ]);
      expect((await status()).active?.revision).toBe(good);
    } finally {
      await app.close();
      await idp.stop();
    }
  });
});
