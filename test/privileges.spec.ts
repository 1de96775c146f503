import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { AuditService } from '../src/audit/audit.service.js';
import { fileSource } from '../src/privileges/events.js';
import { analyzePrivileges } from '../src/privileges/privileges.js';
import type { CallerFindings, PrivilegesReport } from '../src/privileges/privileges-report.js';
import { expandLogPaths } from '../src/replay/log-files.js';
import { loadReplayPolicy } from '../src/replay/policy-loader.js';
import type { ReplayReport } from '../src/replay/replay.js';
import type { ActivePolicy } from '../src/policy-store/active-policy.js';
import { startApp } from './support/app.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { policyWorkspace, ROOT } from './support/policy-fixtures.js';
import { writeCandidateChange } from './support/replay-fixture.js';

const RESOURCE = 'http://127.0.0.1:3997/mcp';
const CLI = path.join(ROOT, 'dist/cli.js');

/**
 * Records a real decision log (real HTTP, real signed tokens, the reference
 * policy and its mask) of three clients: support-desk holds a scope it never
 * needs, release-bot needs everything it holds, fresh-tool has too few calls
 * to judge. The findings are checked against what each call needs under the
 * reference policy, with their evidence; then the suggested data patch is
 * replayed over the same logs by `toolgate replay --data-patch`.
 */
describe('toolgate privileges', () => {
  let dir: string;
  let logDir: string;
  let bundle: string;
  let policy: ActivePolicy;
  let issuer: string;
  let report: PrivilegesReport;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-privileges-'));
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    issuer = idp.issuer;
    const app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      decision_logs: { file: { path: path.join(dir, 'live/decisions.jsonl') } },
      revocation: { file: path.join(dir, 'revocations.json') },
    });
    const sign = (claims: Record<string, unknown>) => idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims });
    const alice = await sign({ sub: 'alice', client_id: 'support-desk', roles: ['support_agent'], scope: 'refunds:write invoices:read' });
    const erin = await sign({ sub: 'erin', client_id: 'release-bot', roles: ['engineer'], scope: 'issues:write deploy:write', projects: ['core'] });
    // dana's role is both claimed and implied by a scope (role:support): each alone is unneeded, not both.
    const dana = await sign({ sub: 'dana', client_id: 'dual-desk', roles: ['support_agent'], scope: 'refunds:write role:support' });
    const fred = await sign({ sub: 'fred', client_id: 'fresh-tool', roles: ['finance'], scope: 'refunds:write invoices:read' });
    const call = async (token: string, name: string, args: Record<string, unknown>) => {
      const r = await app.post('/v1/decisions', { token, server: 'demo', tool: { name, arguments: args } });
      return r.body.allow as boolean;
    };
    const allowed: boolean[] = [];
    try {
      // support-desk: 24 refunds of at most 60 (6 distinct inputs, each called 4 times), one with a card number (masked).
      for (let i = 0; i < 24; i++) allowed.push(await call(alice, 'refunds.create', { order_id: `o-${i % 6}`, amount: 10 * ((i % 6) + 1), currency: 'USD' }));
      allowed.push(await call(alice, 'refunds.create', { order_id: 'o-card', amount: 5, currency: 'USD', card_number: '4111111111111111' }));
      // release-bot: 20 issues and 4 staging deploys, one refund it may not make, and a tools list.
      for (let i = 0; i < 20; i++) allowed.push(await call(erin, 'issues.create', { project: 'core', title: `issue ${i}` }));
      for (let i = 0; i < 4; i++) allowed.push(await call(erin, 'deploy.trigger', { service: `svc-${i}`, environment: 'staging' }));
      expect(await call(erin, 'refunds.create', { order_id: 'o-x', amount: 1, currency: 'USD' })).toBe(false);
      await app.post('/v1/decisions/tools', { token: erin, server: 'demo', tools: [{ name: 'deploy.trigger', annotations: {} }, { name: 'issues.create', annotations: {} }] });
      // fresh-tool: 5 large refunds, and a list that shows invoices.read (which nobody calls).
      for (let i = 0; i < 5; i++) allowed.push(await call(fred, 'refunds.create', { order_id: `f-${i}`, amount: 1000, currency: 'EUR' }));
      await app.post('/v1/decisions/tools', { token: fred, server: 'demo', tools: [{ name: 'invoices.read', annotations: {} }] });
      for (let i = 0; i < 20; i++) allowed.push(await call(dana, 'refunds.create', { order_id: `d-${i}`, amount: 25, currency: 'GBP' }));
      // A token that never verified: nothing to replay.
      await call('not.a.token', 'refunds.create', {});
      await app.app.get(AuditService).flush();
    } finally {
      await app.close();
      await idp.stop();
    }
    expect(allowed.every(Boolean)).toBe(true);
    // Rotated and gzipped as operators keep them.
    const lines = (await readFile(path.join(dir, 'live/decisions.jsonl'), 'utf8')).split('\n').filter(Boolean);
    logDir = path.join(dir, 'logs');
    await mkdir(logDir);
    await writeFile(path.join(logDir, 'decisions.jsonl.1.gz'), gzipSync(lines.slice(0, 30).join('\n') + '\n'));
    await writeFile(path.join(logDir, 'decisions.jsonl'), lines.slice(30).join('\n') + '\n');

    policy = await loadReplayPolicy({ location: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'policy-build') });
    bundle = path.join(dir, 'policy-build/bundle.tar.gz');
    report = await analyzePrivileges({ policy: { ...policy, location: 'policies' }, source: fileSource(await expandLogPaths([logDir])), suggest: true });
  }, 180_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const client = (r: PrivilegesReport, id: string): CallerFindings => r.clients.find((c) => c.id === id)!;

  it('finds the scope support-desk holds and never needed, with the evidence', () => {
    const c = client(report, 'support-desk');
    expect(c.status).toBe('findings');
    expect(c.held).toEqual({ scopes: ['invoices:read', 'refunds:write'], roles: ['support_agent'] });
    expect(c.needed).toEqual({ scopes: ['refunds:write'], roles: ['support_agent'] });
    expect(c.unused).toEqual({ scopes: ['invoices:read'], roles: [] });
    expect(c.calls).toBe(24);
    // The masked refund: its card number is gone, so replayed it is denied (drift), not examined.
    expect(c.evidence).toMatchObject({ masked: 1, drift: 1, denied: 0, list_items: 0 });
    expect(c.unused_together).toBe(true);
  });

  it('says when unused grants can go one at a time but not all at once', () => {
    const c = client(report, 'dual-desk');
    expect(c.status).toBe('findings');
    expect(c.needed).toEqual({ scopes: ['refunds:write'], roles: [] });
    expect(c.unused).toEqual({ scopes: ['role:support'], roles: ['support_agent'] });
    expect(c.unused_together).toBe(false);
    expect(c.evidence.together_sample).toEqual(expect.any(String));
    expect(report.subjects.find((s) => s.id === 'dana')!.unused_together).toBe(false);
  });

  it('finds nothing unused for release-bot, which needs all it holds', () => {
    const c = client(report, 'release-bot');
    expect(c.status).toBe('findings');
    expect(c.held).toEqual({ scopes: ['deploy:write', 'issues:write'], roles: ['engineer'] });
    expect(c.needed).toEqual(c.held);
    expect(c.unused).toEqual({ scopes: [], roles: [] });
    expect(c.unused_together).toBeNull();
    expect(c.calls).toBe(24);
    expect(c.evidence).toMatchObject({ denied: 1, list_items: 2, masked: 0, drift: 0 });
  });

  it('calls nothing unused on fewer than --min-calls allowed calls', async () => {
    const c = client(report, 'fresh-tool');
    expect(c.status).toBe('insufficient_evidence');
    expect(c.calls).toBe(5);
    expect(c.unused).toEqual({ scopes: [], roles: [] });
    expect(c.needed).toEqual({ scopes: ['refunds:write'], roles: ['finance'] });
    const low = await analyzePrivileges({ policy: { ...policy, location: 'policies' }, source: fileSource(await expandLogPaths([logDir])), minCalls: 5 });
    const c5 = client(low, 'fresh-tool');
    expect(c5.status).toBe('findings');
    expect(c5.unused).toEqual({ scopes: ['invoices:read'], roles: [] });
    expect(low.limits!.find((l) => l.role === 'finance')).toMatchObject({ calls: 5, max_seen: 1000, status: 'headroom' });
  });

  it('reports per subject too, and the evidence of the period', () => {
    expect(report.subjects.map((s) => [s.id, s.issuer, s.status, s.unused.scopes])).toEqual([
      ['alice', issuer, 'findings', ['invoices:read']],
      ['dana', issuer, 'findings', ['role:support']],
      ['erin', issuer, 'findings', []],
      ['fred', issuer, 'insufficient_evidence', []],
    ]);
    expect(report.evidence).toMatchObject({
      // A token that never verified logs to the unverified stream, not to the logs analysed here.
      events: 77,
      not_replayable: 0,
      not_replayable_by_reason: {},
      masked: 1,
      drift: 1,
      denied: 1,
      allowed_calls: 73,
      allowed_list_items: 3,
      unreadable: 0,
      without_client_id: 0,
      time_ignored: true,
    });
    // The reference policy never reads the time: support-desk's 24 refunds are 6 distinct inputs.
    expect(report.evidence.distinct_inputs).toBeLessThan(report.evidence.allowed_calls);
    expect(report.period.first_event).not.toBeNull();
    expect(report.kind).toBe('privileges');
  });

  it('reports the catalog tool nobody called and the limit nobody approached', () => {
    expect(report.unused_tools).toEqual([{ server: 'demo', tool: 'invoices.read', roles: ['support_agent', 'finance'], scopes: ['invoices:read'], holders: 3, listed: 1 }]);
    expect(report.limits).toEqual([
      { server: 'demo', tool: 'refunds.create', argument: 'amount', role: 'finance', limit: 5000, calls: 5, max_seen: 1000, status: 'insufficient_evidence' },
      { server: 'demo', tool: 'refunds.create', argument: 'amount', role: 'support_agent', limit: 100, calls: 44, max_seen: 60, status: 'headroom' },
    ]);
  });

  it('suggests only changes that deny no allowed evaluation of the period', () => {
    const s = report.suggestion!;
    expect(s.changes.map((c) => c.ops)).toEqual([
      [
        { op: 'test', path: '/catalog/servers/demo/tools/issues.create/roles', value: ['engineer', 'support_agent'] },
        { op: 'replace', path: '/catalog/servers/demo/tools/issues.create/roles', value: ['engineer'] },
      ],
      // dana keeps support_agent through her roles claim.
      [
        { op: 'test', path: '/catalog/scope_roles/role:support', value: ['support_agent'] },
        { op: 'remove', path: '/catalog/scope_roles/role:support' },
      ],
    ]);
    // Removing invoices.read would hide it from fresh-tool's list: withdrawn.
    expect(s.withdrawn).toEqual([{ why: expect.stringContaining('tool invoices.read on demo') as unknown as string, flips: 1 }]);
  });

  it('replays each call at its recorded time when the policy reads the clock (no merging across times)', async () => {
    const ws = await policyWorkspace();
    try {
      // Issue creation in project core is frozen from the 10th of release-bot's issues on.
      const events = (await readFile(path.join(dir, 'live/decisions.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { timestamp: string; input?: { tool?: { name?: string } } });
      const issues = events.filter((e) => e.input?.tool?.name === 'issues.create');
      await writeCandidateChange(ws, Date.parse(issues[10].timestamp));
      const timed = await loadReplayPolicy({ location: ws.policies, tests: ws.tests, out: path.join(dir, 'timed-build') });
      const r = await analyzePrivileges({ policy: { ...timed, location: ws.policies }, source: fileSource(await expandLogPaths([logDir])) });
      expect(r.evidence.time_ignored).toBe(false);
      // Every recorded call is its own input now: support-desk's 24 refunds are no longer 6.
      expect(r.evidence.distinct_inputs).toBeGreaterThanOrEqual(r.evidence.allowed_calls + r.evidence.drift);
      // Issues recorded after the freeze are denied on replay: drift, not examined.
      const bot = client(r, 'release-bot');
      expect(bot.evidence.drift).toBe(issues.length - 10);
      expect(bot.calls).toBe(24 - (issues.length - 10));
    } finally {
      await ws.cleanup();
    }
  }, 120_000);

  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('the CLI writes the JSON report and the suggestion, and toolgate replay finds no allow→deny in it', async () => {
    const suggestion = path.join(dir, 'suggest.json');
    const reports = path.join(dir, 'reports');
    const r = await cli(['privileges', '--policy', bundle, '--logs', logDir, '--format', 'json', '--suggest', suggestion, '--report-dir', reports]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as PrivilegesReport;
    expect(out).toMatchObject({ kind: 'privileges', schema_version: 1, min_calls: 20 });
    // A bundle carries its Rego sources: the reference policy is seen to ignore the time there too.
    expect(out.evidence.time_ignored).toBe(true);
    expect(out.clients.map((c) => [c.id, c.unused.scopes])).toEqual([
      ['dual-desk', ['role:support']],
      ['fresh-tool', []],
      ['release-bot', []],
      ['support-desk', ['invoices:read']],
    ]);
    const filed = await readdir(reports);
    expect(filed).toHaveLength(1);
    expect(filed[0]).toMatch(/^privileges-\d{8}T\d{6}Z\.json$/);
    expect(JSON.parse(await readFile(path.join(reports, filed[0]), 'utf8'))).toMatchObject({ kind: 'privileges', clients: out.clients });
    const patch = JSON.parse(await readFile(suggestion, 'utf8')) as { kind: string; patch: unknown[] };
    expect(patch.kind).toBe('privileges-suggestion');
    expect(patch.patch).toHaveLength(4);

    const replayed = await cli(['replay', bundle, '--baseline', bundle, '--logs', logDir, '--data-patch', suggestion, '--format', 'json', '--fail-on', 'any']);
    expect(replayed.code).toBe(0);
    const rr = JSON.parse(replayed.stdout) as ReplayReport;
    expect(rr).toMatchObject({ allow_to_deny: 0, deny_to_allow: 0 });
    expect(rr.replayed).toBeGreaterThan(50);
    expect(rr.candidate.location).toContain(`+ data patch ${suggestion}`);

    // The change it withdrew does deny an allowed evaluation, and replay says so.
    const withdrawn = path.join(dir, 'withdrawn.json');
    await writeFile(withdrawn, JSON.stringify([{ op: 'remove', path: '/catalog/servers/demo/tools/invoices.read' }]));
    const flipped = await cli(['replay', bundle, '--baseline', bundle, '--logs', logDir, '--data-patch', withdrawn, '--format', 'json', '--fail-on', 'any']);
    expect(flipped.code).toBe(4);
    expect(JSON.parse(flipped.stdout)).toMatchObject({ allow_to_deny: 1, by_tool: { 'invoices.read': { allow_to_deny: 1 } } });
  });

  it('the CLI prints the table and HTML, honours --min-calls, and refuses bad usage', async () => {
    const table = await cli(['privileges', '--policy', bundle, '--logs', logDir]);
    expect(table.code).toBe(0);
    if (process.env.TOOLGATE_PRINT_EXAMPLE) process.stderr.write(table.stdout);
    expect(table.stdout).toMatch(/support-desk .*scope invoices:read/);
    expect(table.stdout).toMatch(/fresh-tool .*insufficient evidence/);
    expect(table.stdout).toMatch(/dual-desk .*scope role:support, role support_agent \(each alone, not all at once\)/);
    expect(table.stdout).toContain('never within 10% of the limit');
    const five = await cli(['privileges', '--policy', bundle, '--logs', logDir, '--min-calls', '5', '--format', 'json']);
    expect((JSON.parse(five.stdout) as PrivilegesReport).clients.find((c) => c.id === 'fresh-tool')!.unused.scopes).toEqual(['invoices:read']);
    const html = path.join(dir, 'privileges.html');
    expect((await cli(['privileges', '--policy', bundle, '--logs', logDir, '--format', 'html', '--output', html])).code).toBe(0);
    const page = await readFile(html, 'utf8');
    expect(page).toContain('<svg role="img" aria-label="Held and needed per client"');
    expect(page).toContain('support-desk');
    expect((await cli(['privileges', '--logs', logDir])).code).toBe(2);
    expect((await cli(['privileges', '--policy', bundle])).code).toBe(2);
    expect((await cli(['privileges', '--policy', bundle, '--logs', logDir, '--min-calls', 'many'])).code).toBe(2);
    const bad = path.join(dir, 'bad-patch.json');
    await writeFile(bad, JSON.stringify([{ op: 'test', path: '/catalog/scope_roles/role:support', value: ['nobody'] }]));
    expect((await cli(['replay', bundle, '--baseline', bundle, '--logs', logDir, '--data-patch', bad])).code).toBe(1);
  });
});
