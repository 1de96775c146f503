import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { writeCandidateChange } from './support/replay-fixture.js';

const CLI = path.join(ROOT, 'dist/cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** What the command left in its private temp directory. */
  leftInTmp: string[];
}

/**
 * Runs the compiled CLI as a user would, with a temp directory of its own
 * (TMPDIR), and returns what it printed and what it left there.
 */
async function toolgate(...args: string[]): Promise<Run> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'cli-errors-tmp-'));
  const env = { ...process.env, TMPDIR: tmp, TMP: tmp, TEMP: tmp };
  let r: Omit<Run, 'leftInTmp'>;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT, env, maxBuffer: 16 << 20 });
    r = { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    r = { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
  const leftInTmp = await readdir(tmp);
  await rm(tmp, { recursive: true, force: true });
  return { ...r, leftInTmp };
}

/** An expected failure or a usage error as the user sees it: the exit code, a message naming the problem, no stack trace, nothing left behind. */
function expectClean(r: Run, code: number, message: RegExp | string): void {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code, stderr: expect.stringMatching(typeof message === 'string' ? new RegExp(escape(message)) : message) });
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.leftInTmp.filter((f) => f.startsWith('toolgate-'))).toEqual([]);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const NOW = Date.now();

/** A recorded call, shaped as the file sink writes it (the fields replay reads). */
function event(id: string, claims: Record<string, unknown>, scopes: string[], tool: { name: string; arguments: Record<string, unknown> }, allow: boolean) {
  return {
    decision_id: id,
    timestamp: new Date(NOW - 60_000).toISOString(),
    kind: 'decision',
    revision: 'recorded',
    input: { claims, scopes, server: 'demo', action: 'call', tool, time: new Date(NOW - 60_000).toISOString() },
    outcome: allow ? { allow: true, http_status: 200 } : { allow: false, code: 'policy_denied', http_status: 403 },
  };
}

describe('toolgate command line: errors are printed, with the right exit code', () => {
  let dir: string;
  let ws: PolicyWorkspace;
  let logDir: string;
  let baselineBundle: string;
  const config = (name: string, body: unknown) => writeFile(path.join(dir, name), JSON.stringify(body)).then(() => path.join(dir, name));
  const minimal = { issuers: [{ issuer: 'https://issuer.example', jwks_uri: 'https://issuer.example/jwks' }], servers: [{ id: 'demo', resource: 'http://127.0.0.1:3000/mcp', issuers: ['https://issuer.example'] }] };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cli-errors-'));
    ws = await policyWorkspace();
    await writeCandidateChange(ws, 0); // reports.export for support agents (deny→allow), issues.create in core frozen (allow→deny)
    const built = await toolgate('build', '--policies', 'policies', '--tests', 'rego-tests', '--out', path.join(dir, 'base'), '--revision', 'deployed');
    expect(built.code).toBe(0);
    baselineBundle = path.join(dir, 'base/bundle.tar.gz');
    // What `.toolgate/` holds on a demo machine: the decision log and, beside it, the revocation file and other files.
    logDir = path.join(dir, 'dot-toolgate');
    await mkdir(logDir);
    const alice = { sub: 'alice', roles: ['support_agent'], projects: ['web'] };
    const erin = { sub: 'erin', roles: ['engineer'], projects: ['core'] };
    const events = [
      event('e-refund', alice, ['refunds:write'], { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } }, true),
      event('e-report', alice, [], { name: 'reports.export', arguments: {} }, false),
      event('e-issue', erin, ['issues:write'], { name: 'issues.create', arguments: { project: 'core', title: 't' } }, true),
    ];
    await writeFile(path.join(logDir, 'decisions.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    await writeFile(path.join(logDir, 'revocations.json'), JSON.stringify({ rules: [{ id: 'r1', kind: 'subject', value: 'mallory' }] }, null, 2));
    await writeFile(path.join(logDir, 'notes.jsonl'), '{"not": "a decision"}\n');
  }, 120_000);
  afterAll(async () => {
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('usage errors raised inside a command exit 2 and say what is missing', async () => {
    expectClean(await toolgate('replay', baselineBundle, '--logs', logDir), 2, /name the baseline: --baseline .*\(replay_baseline_missing\)/);
    expectClean(await toolgate('privileges', '--logs', logDir), 2, /name the policy: --policy .*\(privileges_policy_missing\)/);
    expectClean(await toolgate('privileges', '--policy', baselineBundle), 2, /name one source: --logs .*\(privileges_source_missing\)/);
    const bad = await config('bad.json', { ...minimal, policy: { mode: 'sideways' } });
    expectClean(await toolgate('migrate', '--config', bad), 2, /invalid configuration:[\s\S]*\(config_invalid\)/);
    expectClean(await toolgate('replay', baselineBundle, '--config', bad, '--logs', logDir), 2, /invalid configuration:[\s\S]*\(config_invalid\)/);
    expectClean(await toolgate('migrate', '--config', path.join(dir, 'nope.yaml')), 2, /cannot read config file .*nope\.yaml/);
  });

  it('expected failures print one line with their code and exit 1', async () => {
    const missing = path.join(dir, 'no-such-logs');
    expectClean(await toolgate('replay', ws.policies, '--baseline', baselineBundle, '--logs', missing), 1, `error: ${missing}: no such file or directory (logs_not_found)`);
    expectClean(await toolgate('privileges', '--policy', baselineBundle, '--logs', missing), 1, `error: ${missing}: no such file or directory (logs_not_found)`);
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    expectClean(await toolgate('replay', ws.policies, '--baseline', baselineBundle, '--logs', empty), 1, `no decision-log files in ${empty} (logs_not_found)`);
    const issuer = `http://127.0.0.1:${await closedPort()}`;
    expectClean(await toolgate('demo-login', '--issuer', issuer), 1, new RegExp(`error: cannot reach the authorization server at ${escape(issuer)}: .*ECONNREFUSED.*\\(issuer_unreachable\\)`));
    const noPg = await config('no-pg.json', { ...minimal, policy: { mode: 'bundle', bundle: { path: baselineBundle } } });
    expectClean(await toolgate('migrate', '--config', noPg), 1, /configures no PostgreSQL .*\(postgres_not_configured\)/);
    const pgDown = await config('pg-down.json', { ...minimal, policy: { mode: 'bundle', bundle: { path: baselineBundle } }, revocation: { postgres: { url: `postgres://u:secret@127.0.0.1:${await closedPort()}/db` } } });
    const down = await toolgate('migrate', '--config', pgDown);
    expectClean(down, 1, /ECONNREFUSED .*\(postgres_unreachable\)/);
    expect(down.stderr).not.toContain('secret');
  });

  it('demo-token never creates keys: a missing key directory fails and stays missing; demo-keys creates them', async () => {
    const keys = path.join(dir, 'keys-nowhere');
    expectClean(await toolgate('demo-token', '--keys', keys), 1, `no demo key pair in ${keys}`);
    expect(existsSync(keys)).toBe(false);
    const made = await toolgate('demo-keys', '--out', keys);
    expect(made.code).toBe(0);
    const minted = await toolgate('demo-token', '--keys', keys, '--sub', 'carol');
    expect(minted.code).toBe(0);
    expect(decodeJwt(minted.stdout.trim())).toMatchObject({ sub: 'carol' });
  });

  it('parity on a missing policy directory says so instead of failing every test', async () => {
    const r = await toolgate('parity', '--policies', path.join(dir, 'no-policies'), '--out', path.join(dir, 'parity-out'));
    expectClean(r, 1, /check failed \(policy_dir_missing\): policy directory .*no-policies does not exist/);
    expect(r.stdout + r.stderr).not.toMatch(/tests? failed|diverged|passed/);
  });

  it('a candidate edited in place is not replayed against itself: replay_same_revision, exit 2', async () => {
    // The service's config names the working directory: --config would take the edited files as the baseline.
    const inPlace = await config('source.json', { ...minimal, policy: { mode: 'source', source: { policies: ws.policies, tests: ws.tests } } });
    expectClean(await toolgate('replay', ws.policies, '--config', inPlace, '--tests', ws.tests, '--logs', logDir), 2, /is also the baseline.*\(replay_same_revision\)/);
    // The same content under another name is the same revision too.
    const copy = path.join(dir, 'copy.tar.gz');
    await copyFile(baselineBundle, copy);
    expectClean(await toolgate('replay', copy, '--baseline', baselineBundle, '--logs', logDir), 2, /are the same revision .*\(replay_same_revision\)/);
  });

  it('replay over a .toolgate directory reads decision logs only, names what it skipped, keeps --tool totals honest and leaves no build folder', async () => {
    const r = await toolgate('replay', ws.policies, '--tests', ws.tests, '--baseline', baselineBundle, '--logs', logDir, '--tool', 'reports.export', '--format', 'json', '--fail-on', 'any', '--max-flips', '1');
    expect(r.stderr).toMatch(/^replay: skipped .*revocations\.json: not a decision log/m);
    expect(r.stderr).toMatch(/^replay: skipped .*notes\.jsonl: not a decision log/m);
    expect({ code: r.code, left: r.leftInTmp }).toEqual({ code: 0, left: [] });
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report.files).toEqual([path.join(logDir, 'decisions.jsonl')]);
    expect(report).toMatchObject({ events: 3, unreadable: 0, replayed: 1, deny_to_allow: 1, allow_to_deny: 0 });
    // The other two evaluations were replayed as well and are counted, flips included.
    expect(report.other_tools).toEqual({ tools: ['reports.export'], replayed: 2, same: 1, allow_to_deny: 1, deny_to_allow: 0, code_changed: 0, reasons_changed: 0, baseline_drift: 0 });
    const table = await toolgate('replay', ws.policies, '--tests', ws.tests, '--baseline', baselineBundle, '--logs', logDir, '--tool', 'reports.export', '--max-flips', '1');
    expect(table.stdout).toContain('--tool reports.export: the counts below are for these only; 2 evaluation(s) of other subjects were replayed too');
    expect(table.stdout).toContain('Outside --tool reports.export: 1 allow→deny and 0 deny→allow flip(s)');
  }, 120_000);

  it('replay and privileges leave no build folder when the policy is refused or loaded from a config', async () => {
    await ws.write('policies/broken.rego', 'package broken\n\nx if {\n  input.a ==\n}\n');
    try {
      expectClean(await toolgate('replay', ws.policies, '--tests', ws.tests, '--baseline', baselineBundle, '--logs', logDir), 1, /check failed \(policy_check_failed\)/);
    } finally {
      await ws.remove('policies/broken.rego');
    }
    const bundleCfg = await config('bundle.json', { ...minimal, policy: { mode: 'bundle', bundle: { path: baselineBundle } } });
    const p = await toolgate('privileges', '--config', bundleCfg, '--logs', logDir, '--format', 'json', '--min-calls', '0');
    expect(p.stderr).toMatch(/^privileges: skipped .*revocations\.json/m);
    expect({ code: p.code, left: p.leftInTmp }).toEqual({ code: 0, left: [] });
  }, 120_000);
});
