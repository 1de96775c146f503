/**
 * TLS to PostgreSQL (`revocation.postgres.tls`): with the right CA the
 * connections are encrypted and verified; with another CA nothing connects,
 * and once the limit passes decisions are denied `revocation_stale`, never
 * served on unknown revocations.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApp, type RunningApp } from './support/app.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { makeCert } from './support/certs.js';
import { ROOT } from './support/policy-fixtures.js';
import { TestPostgres } from './support/postgres.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

describe('PostgreSQL over TLS', () => {
  let db: TestPostgres;
  let idp: TestIssuer;
  let dir: string;
  const apps: RunningApp[] = [];

  const start = (caFile: string) =>
    startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
      revocation: { postgres: { url: db.url, connect_timeout_ms: 1000, resync_interval_s: 1, tls: { ca_file: caFile } }, max_staleness_s: 2 },
    }).then((a) => {
      apps.push(a);
      return a;
    });
  const decide = async (app: RunningApp, sub: string) =>
    (
      await app.post('/v1/decisions', {
        token: await idp.sign({ sub, aud: RESOURCE, roles: ['support_agent'], scope: 'refunds:write' }),
        server: 'demo',
        tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } },
      })
    ).body;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-pgtls-'));
    const from = new Date(Date.now() - 3600_000);
    const to = new Date(Date.now() + 86_400_000);
    const ca = makeCert({ cn: 'toolgate test CA', ca: true, notBefore: from, notAfter: to });
    const other = makeCert({ cn: 'some other CA', ca: true, notBefore: from, notAfter: to });
    const server = makeCert({ cn: '127.0.0.1', issuer: ca, ips: ['127.0.0.1'], eku: ['1.3.6.1.5.5.7.3.1'], notBefore: from, notAfter: to, serial: 7n });
    await writeFile(path.join(dir, 'ca.pem'), ca.pem);
    await writeFile(path.join(dir, 'other-ca.pem'), other.pem);
    db = await TestPostgres.create({ cert: server.pem, key: server.key.export({ type: 'pkcs8', format: 'pem' }) as string });
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await idp?.stop();
    await db?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies the server against the configured CA and encrypts every connection', async () => {
    const app = await start(path.join(dir, 'ca.pem'));
    expect((await app.get('/v1/status')).body).toMatchObject({ revocations: { backend: 'postgres', state: 'ok', postgres: { listening: true } } });
    const admin = { authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:admin' })}` };
    expect((await app.post('/v1/revocations', { kind: 'sub', value: 'mallory' }, admin)).status).toBe(201);
    expect(await decide(app, 'mallory')).toMatchObject({ allow: false, code: 'token_revoked' });
    const conns = await db.query<{ ssl: boolean }>(
      "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'toolgate-%'",
    );
    expect(conns.length).toBeGreaterThan(0);
    expect(conns.every((c) => c.ssl)).toBe(true);
  });

  it('refuses a server its CA did not sign: nothing connects, and decisions turn revocation_stale', async () => {
    const app = await start(path.join(dir, 'other-ca.pem'));
    const s = ((await app.get('/v1/status')).body as { revocations: { state: string; last_error: string } }).revocations;
    expect(s.state).toBe('unreachable');
    expect(s.last_error).toMatch(/certificate/i);
    const d = await waitFor(async () => {
      const r = await decide(app, 'alice');
      return r.code === 'revocation_stale' ? r : undefined;
    }, 10_000, 'revocation_stale');
    expect(d).toMatchObject({ allow: false, http_status: 503 });
  });
});
