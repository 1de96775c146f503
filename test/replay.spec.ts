import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { DecisionEvent } from '../src/audit/decision-event.js';
import { AuditService } from '../src/audit/audit.service.js';
import { expandLogPaths } from '../src/replay/log-files.js';
import { loadReplayPolicy } from '../src/replay/policy-loader.js';
import { replay, type ReplayReport } from '../src/replay/replay.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp } from './support/app.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { writeCandidateChange } from './support/replay-fixture.js';

const RESOURCE = 'http://127.0.0.1:3998/mcp';
const CLI = path.join(ROOT, 'dist/cli.js');

/**
 * Records a real decision log (real HTTP, real tokens, the reference policy,
 * its mask), makes a known change to a copy of the policy, and checks that
 * replay finds exactly the flips that change makes, and counts what it cannot know.
 */
describe('toolgate replay', () => {
  let dir: string;
  let ws: PolicyWorkspace;
  let logDir: string;
  let ids: Record<string, string>;
  let report: ReplayReport;
  let baselineBundle: string;
  let candidateBundle: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-replay-'));
    ws = await policyWorkspace();
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      decision_logs: { file: { path: path.join(dir, 'live/decisions.jsonl') } },
      revocation: { file: path.join(dir, 'revocations.json') },
    });
    const sign = (claims: Record<string, unknown>) => idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims });
    const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const erin = await sign({ sub: 'erin', roles: ['engineer'], scope: 'issues:write deploy:write', projects: ['core'] });
    const call = async (token: string, name: string, args: Record<string, unknown>) =>
      String((await app.post('/v1/decisions', { token, server: 'demo', tool: { name, arguments: args } })).body.decision_id);
    try {
      ids = {
        refund: await call(alice, 'refunds.create', { order_id: 'o-1', amount: 50, currency: 'USD' }),
        refundCard: await call(alice, 'refunds.create', { order_id: 'o-2', amount: 20, currency: 'USD', card_number: '4111111111111111' }),
        report: await call(alice, 'reports.export', {}),
        issue: await call(erin, 'issues.create', { project: 'core', title: 't' }),
        badToken: await call('not.a.token', 'refunds.create', {}),
      };
      const list = await app.post('/v1/decisions/tools', {
        token: erin,
        server: 'demo',
        tools: [{ name: 'deploy.trigger', annotations: { destructiveHint: true } }, { name: 'issues.create', annotations: {} }],
      });
      ids.list = String(list.body.decision_id);
      await app.app.get(AuditService).flush();
    } finally {
      await app.close();
      await idp.stop();
    }
    const lines = (await readFile(path.join(dir, 'live/decisions.jsonl'), 'utf8')).split('\n').filter(Boolean);
    const events = lines.map((l) => JSON.parse(l) as DecisionEvent);
    // An event from an older revision that denied what the baseline allows (baseline drift), and one whose input was erased.
    const refund = events.find((e) => e.decision_id === ids.refund)!;
    ids.older = 'older-revision-event';
    ids.erased = 'erased-event';
    const older = { ...refund, decision_id: ids.older, revision: 'older', outcome: { allow: false, code: 'policy_denied', http_status: 403 } };
    const erased = { ...refund, decision_id: ids.erased, input: undefined, result: undefined, erased: ['/input', '/result'] };
    // Rotated and compressed as operators keep them: the older half gzipped under the rotated name.
    logDir = path.join(dir, 'logs');
    await mkdir(logDir);
    const all = [...lines, JSON.stringify(older), JSON.stringify(erased)];
    await writeFile(path.join(logDir, 'decisions.jsonl.1.gz'), gzipSync(all.slice(0, 3).join('\n') + '\n'));
    await writeFile(path.join(logDir, 'decisions.jsonl'), all.slice(3).join('\n') + '\n');

    // The change is made after every event was recorded; the freeze starts after them too.
    await writeCandidateChange(ws, Date.now() + 1);
    const [baseline, candidate] = await Promise.all([
      loadReplayPolicy({ location: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'base-build') }),
      loadReplayPolicy({ location: ws.policies, tests: ws.tests, out: path.join(dir, 'cand-build') }),
    ]);
    report = await replay({
      baseline: { ...baseline, location: 'policies' },
      candidate: { ...candidate, location: ws.policies },
      files: await expandLogPaths([logDir]),
    });
    // Bundles for the CLI runs, so they do not rebuild.
    baselineBundle = path.join(dir, 'base-build/bundle.tar.gz');
    candidateBundle = path.join(dir, 'cand-build/bundle.tar.gz');
  }, 180_000);

  afterAll(async () => {
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads rotated and gzipped files, oldest first', async () => {
    const files = await expandLogPaths([logDir]);
    expect(files.map((f) => path.basename(f))).toEqual(['decisions.jsonl.1.gz', 'decisions.jsonl']);
    // The bad token's event is in the unverified stream (decision_logs.unverified), not in these files.
    expect(report.events).toBe(7);
    expect(report.unreadable).toBe(0);
  });

  it('finds exactly the flips the change makes, with their decision ids', () => {
    // 5 calls with a policy input (two refunds, reports.export, issues.create, the older copy) + 2 listed tools.
    expect(report.replayed).toBe(7);
    expect(report.deny_to_allow).toBe(1);
    expect(report.samples.deny_to_allow).toEqual([ids.report]);
    // Only a list event that logs each tool's annotations lets replay see this flip.
    expect(report.allow_to_deny).toBe(1);
    expect(report.samples.allow_to_deny).toEqual([ids.list]);
    expect(report.by_tool).toEqual({ 'reports.export': { deny_to_allow: 1 }, 'deploy.trigger': { allow_to_deny: 1 } });
    expect(report.by_role).toEqual({ support_agent: { deny_to_allow: 1 }, engineer: { allow_to_deny: 1 } });
    expect(report.subjects).toEqual({ deny_to_allow: 1, allow_to_deny: 1 });
    expect(report.subject_list).toBeUndefined();
    expect(report.codes).toEqual({ 'policy_denied → allowed': 1, 'allowed → policy_denied': 1 });
    expect(report.reasons.added).toEqual({ 'destructive tools are not listed': 1 });
    // issues.create was called before the freeze: pinned to its recorded time, it is not a flip.
    expect(report.by_tool['issues.create']).toBeUndefined();
    expect(report.code_changed + report.reasons_changed).toBe(0);
    expect(report.same).toBe(5);
  });

  it('counts masked input, unreplayable events and baseline drift separately', () => {
    // reports.export is not in the catalog, so the mask erases its arguments (even {}): masked too.
    expect(report.masked).toBe(2);
    expect(report.samples.masked?.sort()).toEqual([ids.refundCard, ids.report].sort());
    expect(report.not_replayable).toBe(1);
    expect(report.not_replayable_by_reason).toEqual({ erased: 1 });
    expect(report.samples.not_replayable).toEqual([ids.erased]);
    // The older revision's deny, and the masked refund: its card number is gone and the mask's card_last4
    // is not an argument refunds.create accepts, so the baseline now denies what it allowed.
    expect(report.samples.baseline_drift?.sort()).toEqual([ids.older, ids.refundCard].sort());
    expect(report.baseline_drift).toBe(2);
  });

  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, 'replay', ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('the CLI prints JSON with the top-level counts and exits 4 on a deny→allow flip (the default threshold)', async () => {
    const r = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', path.join(logDir, 'decisions.jsonl*'), '--format', 'json']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('1 deny→allow flip(s), more than --max-flips 0');
    expect(JSON.parse(r.stdout)).toMatchObject({ replayed: 7, same: 5, allow_to_deny: 1, deny_to_allow: 1, masked: 2, not_replayable: 1, baseline_drift: 2 });
  });

  it('the CLI filters, lists subjects when asked, writes Markdown and HTML, and exits 0 within --max-flips', async () => {
    const md = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', logDir, '--format', 'markdown', '--fail-on', 'any', '--max-flips', '2', '--list-subjects']);
    expect(md.code).toBe(0);
    expect(md.stdout).toContain('### toolgate replay: 1 allow→deny, 1 deny→allow');
    expect(md.stdout).toMatch(/\| deploy\.trigger \| 1 \| 0 \| 0 \| 0 \|/);
    expect(md.stdout).toMatch(/\| allow→deny \| 1 \| erin \|/);
    const html = path.join(dir, 'report.html');
    const h = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', logDir, '--format', 'html', '--output', html, '--tool', 'deploy.trigger', '--fail-on', 'any']);
    expect(h.code).toBe(4);
    const page = await readFile(html, 'utf8');
    expect(page).toContain('<svg role="img" aria-label="Flips by tool"');
    expect(page).toContain('deploy.trigger: 1 allow→deny');
    expect(page).not.toContain('reports.export');
    const since = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', logDir, '--format', 'json', '--since', '1m']);
    expect(JSON.parse(since.stdout)).toMatchObject({ replayed: 7 });
    const future = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', logDir, '--format', 'json', '--since', '2999-01-01T00:00:00Z']);
    expect(future.code).toBe(0);
    expect(JSON.parse(future.stdout)).toMatchObject({ replayed: 0, filtered_out: 7 });
  });

  it('the CLI takes the baseline from a toolgate config (--config), as the service would load it', async () => {
    const cfg = path.join(dir, 'toolgate.json');
    await writeFile(
      cfg,
      JSON.stringify({
        policy: { mode: 'bundle', bundle: { path: baselineBundle } },
        issuers: [{ issuer: 'https://issuer.example', jwks_uri: 'https://issuer.example/jwks' }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://issuer.example'] }],
      }),
    );
    const r = await cli([candidateBundle, '--config', cfg, '--logs', logDir, '--format', 'json', '--max-flips', '1']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as ReplayReport;
    expect(out).toMatchObject({ replayed: 7, allow_to_deny: 1, deny_to_allow: 1, baseline_drift: 2 });
    expect(out.baseline.location).toContain(`bundle ${baselineBundle}`);
  });

  it('the CLI refuses a missing baseline, a bad time and missing logs as usage errors or failures', async () => {
    expect((await cli([candidateBundle, '--logs', logDir])).code).toBe(2);
    expect((await cli([candidateBundle, '--baseline', baselineBundle, '--logs', logDir, '--since', 'yesterday'])).code).toBe(2);
    const none = await cli([candidateBundle, '--baseline', baselineBundle, '--logs', path.join(dir, 'nothing-here')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: .*nothing-here: no such file or directory \(logs_not_found\)$/m);
    expect(none.stderr).not.toMatch(/^\s+at /m);
  });
});
