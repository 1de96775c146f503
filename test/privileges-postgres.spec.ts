import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AuditService } from '../src/audit/audit.service.js';
import type { PrivilegesReport } from '../src/privileges/privileges-report.js';
import { loadReplayPolicy } from '../src/replay/policy-loader.js';
import { startApp } from './support/app.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { ROOT } from './support/policy-fixtures.js';
import { TestPostgres } from './support/postgres.js';

const RESOURCE = 'http://127.0.0.1:3996/mcp';
const CLI = path.join(ROOT, 'dist/cli.js');

/**
 * The PostgreSQL decision store as the source: a real toolgate files its
 * decisions into a real PostgreSQL (decision_logs.postgres), and
 * `toolgate privileges --postgres --config` reads them back from there, the
 * period's bounds pushed down to the table.
 */
describe('toolgate privileges from the PostgreSQL decision store', () => {
  let dir: string;
  let db: TestPostgres;
  let bundle: string;
  let cfg: string;
  let started: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-privileges-pg-'));
    db = await TestPostgres.create();
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const conn = { url: db.url, connect_timeout_ms: 2000, statement_timeout_ms: 5000, flush_interval_ms: 50 };
    const base = {
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    };
    const app = await startApp({
      ...base,
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
      decision_logs: { postgres: conn },
      revocation: { file: path.join(dir, 'revocations.json') },
    });
    started = Date.now();
    try {
      const token = await idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, sub: 'alice', client_id: 'support-desk', roles: ['support_agent'], scope: 'refunds:write invoices:read' });
      for (let i = 0; i < 21; i++) {
        const r = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 5 + i, currency: 'USD' } } });
        expect(r.body.allow).toBe(true);
      }
      await app.app.get(AuditService).flush();
    } finally {
      await app.close();
      await idp.stop();
    }
    expect((await db.query<{ n: string }>('SELECT count(*) AS n FROM toolgate_decision_logs'))[0].n).toBe('21');
    await loadReplayPolicy({ location: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'policy-build') });
    bundle = path.join(dir, 'policy-build/bundle.tar.gz');
    cfg = path.join(dir, 'toolgate.json');
    await writeFile(cfg, JSON.stringify({ ...base, policy: { mode: 'bundle', bundle: { path: bundle } }, decision_logs: { postgres: { url: db.url } } }));
  }, 180_000);

  afterAll(async () => {
    await db?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, 'privileges', ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('reads the period from the table and finds the unused scope (policy from the same config)', async () => {
    const r = await cli(['--postgres', '--config', cfg, '--format', 'json', '--since', new Date(started - 60_000).toISOString()]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as PrivilegesReport;
    expect(out.source).toEqual({ kind: 'postgres', location: [expect.stringContaining('toolgate_decision_logs') as unknown as string] });
    expect(out.source.location[0]).not.toContain('password');
    expect(out.evidence).toMatchObject({ events: 21, allowed_calls: 21, filtered_out: 0 });
    expect(out.clients).toEqual([
      expect.objectContaining({ id: 'support-desk', status: 'findings', calls: 21, unused: { scopes: ['invoices:read'], roles: [] } }) as unknown as PrivilegesReport['clients'][0],
    ]);
  });

  it('pushes the period down to the table: before the first decision there is nothing', async () => {
    const r = await cli(['--postgres', '--config', cfg, '--policy', bundle, '--format', 'json', '--until', new Date(started - 60_000).toISOString()]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ evidence: { events: 0 }, clients: [] });
  });

  it('refuses --postgres without a decision store in the config, and two sources at once', async () => {
    const none = path.join(dir, 'no-store.json');
    await writeFile(none, JSON.stringify({ servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://issuer.example'] }], issuers: [{ issuer: 'https://issuer.example', jwks_uri: 'https://issuer.example/jwks' }] }));
    expect((await cli(['--postgres', '--config', none, '--policy', bundle])).code).toBe(2);
    expect((await cli(['--postgres', '--logs', dir, '--config', cfg])).code).toBe(2);
  });
});
