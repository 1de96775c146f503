/**
 * The staleness rule for the file store (the Postgres store is covered by
 * multi-replica.spec.ts): rules that cannot be refreshed stay in force; past
 * `revocation.max_staleness_s` decisions are denied `revocation_stale` (503)
 * unless `on_stale: serve`; status and metrics show it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import { startApp, type RunningApp } from './support/app.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

interface Status {
  backend: string;
  state: string;
  stale: boolean;
  staleness_s: number | null;
  max_staleness_s: number;
}

describe('revocation staleness (file store)', () => {
  let idp: TestIssuer;
  let dir: string;
  const apps: RunningApp[] = [];

  const base = (file: string, extra: Record<string, unknown> = {}) => ({
    policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
    admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
    revocation: { file, max_staleness_s: 2, file_resync_interval_s: 1, ...extra },
  });
  const sign = (sub: string) => idp.sign({ sub, aud: RESOURCE, roles: ['support_agent'], scope: 'refunds:write' });
  const admin = async () => ({ authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:admin' })}` });
  const decide = async (app: RunningApp, token: string) =>
    (await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } } })).body;
  const status = async (app: RunningApp) => ((await app.get('/v1/status')).body as { revocations: Status }).revocations;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-stale-'));
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the rules of a file that turned invalid, then denies revocation_stale past the limit, and recovers', async () => {
    const file = path.join(dir, 'deny.json');
    const app = await startApp(base(file));
    apps.push(app);
    const alice = await sign('alice');
    const mallory = await sign('mallory');
    expect(await decide(app, alice)).toMatchObject({ allow: true });
    expect(await status(app)).toMatchObject({ backend: 'file', state: 'ok', stale: false, max_staleness_s: 2 });
    expect((await app.post('/v1/revocations', { kind: 'sub', value: 'mallory' }, await admin())).status).toBe(201);

    await writeFile(file, '{"version": 1, "revocations": [');
    await waitFor(async () => (await status(app)).state === 'invalid', 10_000, 'the broken file to be noticed');
    expect(await decide(app, mallory)).toMatchObject({ allow: false, code: 'token_revoked' });
    const stale = await waitFor(async () => {
      const d = await decide(app, alice);
      return d.code === 'revocation_stale' ? d : undefined;
    }, 10_000, 'revocation_stale');
    expect(stale).toMatchObject({ allow: false, http_status: 503 });
    expect(stale.www_authenticate).toBeUndefined();
    const s = await status(app);
    expect(s.stale).toBe(true);
    expect(s.staleness_s).toBeGreaterThanOrEqual(2);
    expect((await app.get('/metrics')).text).toMatch(/^toolgate_revocation_stale 1$/m);
    expect((await app.get('/metrics')).text).toMatch(/^toolgate_revocation_stale_denials_total [1-9]/m);
    // Known revocations still win over staleness, and the admin API stays usable to inspect them.
    expect(await decide(app, mallory)).toMatchObject({ code: 'token_revoked' });
    expect((await app.get('/v1/revocations', await admin())).status).toBe(200);

    await writeFile(file, JSON.stringify({ version: 1, revocations: [{ id: 'r1', kind: 'sub', value: 'mallory', created_at: new Date().toISOString() }] }));
    await waitFor(async () => (await decide(app, alice)).allow === true, 10_000, 'recovery');
    expect(await status(app)).toMatchObject({ state: 'ok', stale: false });
    expect(await decide(app, mallory)).toMatchObject({ code: 'token_revoked' });
  });

  it('with on_stale: serve, stale rules keep serving (revoked tokens still denied)', async () => {
    const file = path.join(dir, 'serve.json');
    const app = await startApp(base(file, { on_stale: 'serve' }));
    apps.push(app);
    const alice = await sign('alice');
    const mallory = await sign('mallory');
    expect((await app.post('/v1/revocations', { kind: 'sub', value: 'mallory' }, await admin())).status).toBe(201);
    await rm(file);
    await waitFor(async () => {
      const s = await status(app);
      return s.state === 'missing' && s.stale;
    }, 10_000, 'stale');
    expect(await decide(app, alice)).toMatchObject({ allow: true });
    expect(await decide(app, mallory)).toMatchObject({ allow: false, code: 'token_revoked' });
  });

  it('refuses a resync interval that would make healthy rules stale', () => {
    expect(() =>
      parseConfig({
        issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://idp.example'] }],
        revocation: { max_staleness_s: 5, file_resync_interval_s: 5 },
      }),
    ).toThrow(/file_resync_interval_s: must be below revocation.max_staleness_s/);
  });
});
