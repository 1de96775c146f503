/**
 * Three toolgate replicas (separate processes) sharing PostgreSQL and one
 * bundle server: revocations propagate through LISTEN/NOTIFY, bundles
 * converge, a PostgreSQL crash never lets a revoked token through and turns
 * into `revocation_stale` past the limit, the replicas catch up after a
 * restart, and every replica's decision events land in one table.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { subjectFingerprint } from '../src/audit/postgres-sink.js';
import { migrate } from '../src/postgres/migrations.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { TestPostgres } from './support/postgres.js';
import { Replica } from './support/replica.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';
const MAX_STALENESS_S = 3;

describe('three replicas on PostgreSQL', () => {
  let db: TestPostgres;
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let bundleServer: http.Server;
  let bundle: { body: Buffer; etag: string };
  let replicas: Replica[] = [];
  let A: Replica, B: Replica, C: Replica;

  const sign = (claims: Record<string, unknown>) =>
    idp.sign({ aud: RESOURCE, roles: ['support_agent'], scope: 'refunds:write', exp: Math.floor(Date.now() / 1000) + 600, ...claims });
  const admin = async () => ({ authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:admin' })}` });
  const decide = async (r: Replica, token: string) =>
    (await r.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } } })).body;
  const buildBundle = async (revision: string) => {
    const built = await buildPolicyBundle({
      policyDir: ws.policies,
      outDir: path.join(ws.dir, revision),
      runTests: false,
      revision,
      signing: { keyPath: path.join(ws.dir, 'ci.pem'), keyId: 'ci', scope: 'toolgate' },
    });
    return { body: await readFile(built.bundlePath), etag: `"${revision}"` };
  };

  beforeAll(async () => {
    db = await TestPostgres.create();
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await ws.write('ci.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await ws.write('ci.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    bundle = await buildBundle('rev-1');
    bundleServer = http.createServer((req, res) => {
      if (req.headers['if-none-match'] === bundle.etag) res.writeHead(304).end();
      else res.writeHead(200, { etag: bundle.etag, 'content-type': 'application/gzip' }).end(bundle.body);
    });
    await new Promise<void>((r) => bundleServer.listen(0, '127.0.0.1', () => r()));
    const bundleUrl = `http://127.0.0.1:${(bundleServer.address() as AddressInfo).port}/bundle.tar.gz`;
    const pgConn = { url: db.url, connect_timeout_ms: 1000, statement_timeout_ms: 2000 };
    const config = {
      policy: {
        mode: 'bundle',
        bundle: { url: bundleUrl, poll_interval_s: 1, timeout_ms: 2000, signing: { keys: [{ keyid: 'ci', algorithm: 'RS256', key_file: path.join(ws.dir, 'ci.pub.pem') }], scope: 'toolgate' } },
      },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
      revocation: { postgres: { ...pgConn, resync_interval_s: 1 }, max_staleness_s: MAX_STALENESS_S },
      decision_logs: { postgres: { ...pgConn, flush_interval_ms: 100, max_backoff_ms: 500 } },
    };
    // Started together: all three migrate the empty database at once, under the advisory lock.
    replicas = await Promise.all(['replica-a', 'replica-b', 'replica-c'].map((n) => Replica.start(n, ws.dir, config)));
    [A, B, C] = replicas;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await new Promise((r) => bundleServer?.close(r));
    await idp?.stop();
    await db?.destroy();
    await ws?.cleanup();
  });

  it('a revocation made through A denies on B and C (propagation measured)', async () => {
    const alice = await sign({ sub: 'alice' });
    for (const r of replicas) expect(await decide(r, alice)).toMatchObject({ allow: true });
    const created = await A.post('/v1/revocations', { kind: 'sub', value: 'alice', reason: 'offboarded' }, await admin());
    expect(created.status).toBe(201);
    // Committed before the 201: the row is there, and A itself denies at once.
    expect(await db.query('SELECT kind, value FROM toolgate_revocations WHERE id = $1', [created.body.id])).toEqual([{ kind: 'sub', value: 'alice' }]);
    expect(await decide(A, alice)).toMatchObject({ allow: false, code: 'token_revoked' });
    const t0 = performance.now();
    const seen = await Promise.all(
      [B, C].map((r) =>
        waitFor(async () => ((await decide(r, alice)).code === 'token_revoked' ? performance.now() - t0 : 0), 10_000, `${r.name} to deny`),
      ),
    );
    console.log(`revocation propagation A -> B, C: ${seen.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
  });

  it('a new signed bundle converges on all three', async () => {
    bundle = await buildBundle('rev-2');
    for (const r of replicas) await waitFor(async () => (await r.get('/readyz')).body.revision === 'rev-2', 15_000, `${r.name} on rev-2`);
    const bob = await sign({ sub: 'bob' });
    for (const r of replicas) expect(await decide(r, bob)).toMatchObject({ allow: true, revision: 'rev-2' });
  });

  it('with PostgreSQL down, no revoked token passes, staleness shows, and past the limit decisions are revocation_stale; after a restart all catch up', async () => {
    const alice = await sign({ sub: 'alice' });
    const mallory = await sign({ sub: 'mallory', jti: 'jti-mallory' });
    expect((await B.post('/v1/revocations', { kind: 'jti', value: 'jti-mallory' }, await admin())).status).toBe(201);
    for (const r of replicas) await waitFor(async () => (await decide(r, mallory)).code === 'token_revoked', 10_000, `${r.name} to deny mallory`);
    const bob = await sign({ sub: 'bob' });

    await db.crash();
    // The admin API cannot promise durability now: 503, not 201, and nothing changes.
    const refused = await C.post('/v1/revocations', { kind: 'sub', value: 'bob' }, await admin());
    expect(refused).toMatchObject({ status: 503, body: { code: 'revocation_store_unavailable' } });

    const answers: Record<string, unknown>[] = [];
    const probeRevoked = async () => {
      for (const r of replicas) for (const t of [alice, mallory]) answers.push(await decide(r, t));
    };
    for (const r of replicas) {
      await waitFor(async () => {
        await probeRevoked();
        const s = (await r.get('/v1/status')).body.revocations as { state: string; stale: boolean; staleness_s: number };
        return s.state === 'unreachable' && s.stale && s.staleness_s > MAX_STALENESS_S;
      }, 20_000, `${r.name} to report stale revocations`);
      expect((await r.get('/metrics')).text).toMatch(/^toolgate_revocation_stale 1$/m);
      const d = await decide(r, bob);
      expect(d).toMatchObject({ allow: false, code: 'revocation_stale', http_status: 503 });
      expect(d.www_authenticate).toBeUndefined();
    }
    await probeRevoked();
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.allow !== false)).toEqual([]);

    await db.start();
    for (const r of replicas) await waitFor(async () => (await decide(r, bob)).allow === true, 20_000, `${r.name} to recover`);
    for (const r of replicas) {
      await waitFor(async () => ((await r.get('/v1/status')).body.revocations as { postgres: { listening: boolean } }).postgres.listening, 10_000, `${r.name} to listen`);
      expect((await r.get('/v1/status')).body.revocations).toMatchObject({ state: 'ok', stale: false });
      for (const t of [alice, mallory]) expect(await decide(r, t)).toMatchObject({ allow: false, code: 'token_revoked' });
    }
    // A change whose notification nobody heard (written behind toolgate's back) still arrives, by the resync.
    await db.query("INSERT INTO toolgate_revocations (id, kind, value) VALUES (gen_random_uuid(), 'sub', 'carol')");
    const carol = await sign({ sub: 'carol' });
    for (const r of replicas) await waitFor(async () => (await decide(r, carol)).code === 'token_revoked', 10_000, `${r.name} to resync carol`);
    // And LISTEN is back: a revocation through C reaches A and B.
    expect((await C.post('/v1/revocations', { kind: 'sub', value: 'bob' }, await admin())).status).toBe(201);
    for (const r of [A, B]) await waitFor(async () => (await decide(r, bob)).code === 'token_revoked', 10_000, `${r.name} to deny bob`);
  });

  it('decision events from all three replicas land in the table, with the columns operators query', async () => {
    const rows = await waitFor(async () => {
      const r = await db.query<{ instance_id: string; n: string }>('SELECT instance_id, count(*) AS n FROM toolgate_decision_logs GROUP BY instance_id ORDER BY instance_id');
      return r.length === 3 ? r : undefined;
    }, 20_000, 'events from three replicas');
    expect(rows.map((r) => r.instance_id)).toEqual(['replica-a', 'replica-b', 'replica-c']);
    const revoked = await db.query<Record<string, unknown>>(
      "SELECT server, tool, action, allow, code, http_status, revision, subject_fingerprint, event->'token'->>'subject' AS subject FROM toolgate_decision_logs WHERE code = 'token_revoked' AND subject_fingerprint = $1 LIMIT 1",
      [subjectFingerprint(idp.issuer, 'alice')],
    );
    expect(revoked[0]).toMatchObject({ server: 'demo', tool: 'refunds.create', action: 'call', allow: false, code: 'token_revoked', http_status: 401, subject: 'alice' });
    // Decisions made while the database was down were buffered and delivered afterwards.
    expect((await db.query('SELECT 1 FROM toolgate_decision_logs WHERE code = $1 LIMIT 1', ['revocation_stale'])).length).toBe(1);
    // A NUL in a tool argument (jsonb cannot store U+0000) neither fails its batch nor is lost.
    const nul = await A.post('/v1/decisions', { token: await sign({ sub: 'erin' }), server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-\u0000', amount: 5, currency: 'USD' } } });
    await waitFor(async () => (await db.query('SELECT 1 FROM toolgate_decision_logs WHERE decision_id = $1', [nul.body.decision_id])).length === 1, 10_000, 'the NUL event');
    // Partitioned by day, for retention.
    const parts = await db.query<{ name: string }>("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'toolgate_decision_logs'::regclass");
    expect(parts.map((p) => p.name)).toContain(`toolgate_decision_logs_p${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`);
  });

  it('retention drops day partitions past retention_days; a restarted replica reloads the revocations', async () => {
    await db.query("CREATE TABLE toolgate_decision_logs_p20200101 PARTITION OF toolgate_decision_logs FOR VALUES FROM ('2020-01-01') TO ('2020-01-02')");
    await db.query("INSERT INTO toolgate_decision_logs (decision_id, ts, instance_id, kind, allow, event) VALUES (gen_random_uuid(), '2020-01-01T12:00:00Z', 'old', 'decision', true, '{}')");
    const cfg = JSON.parse(await readFile(path.join(ws.dir, 'replica-a.json'), 'utf8')) as Record<string, unknown>;
    await A.stop();
    A = await Replica.start('replica-a', ws.dir, cfg);
    replicas[0] = A;
    expect(await decide(A, await sign({ sub: 'alice' }))).toMatchObject({ allow: false, code: 'token_revoked' });
    const partitions = async () =>
      (await db.query<{ name: string }>("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'toolgate_decision_logs'::regclass")).map((p) => p.name);
    await waitFor(async () => !(await partitions()).includes('toolgate_decision_logs_p20200101'), 10_000, 'the old partition to be dropped');
    expect(await db.query("SELECT 1 FROM toolgate_decision_logs WHERE instance_id = 'old'")).toEqual([]);
    expect((await partitions()).length).toBeGreaterThan(0);
  });

  it('migrations: concurrent runs apply each step once; toolgate migrate reports an up-to-date schema', async () => {
    await db.query('CREATE DATABASE migr');
    const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: db.urlFor('migr'), max: 1 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p)));
      expect(results.map((r) => r.applied).sort((a, b) => b.length - a.length)).toEqual([[1, 2], [], []]);
      const versions = (await pools[0].query<{ version: number }>('SELECT version FROM toolgate_schema_migrations ORDER BY version')).rows;
      expect(versions.map((v) => v.version)).toEqual([1, 2]);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    const cfg = path.join(ws.dir, 'replica-a.json');
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli.js', 'migrate', '--config', cfg]);
    expect(stdout).toMatch(/schema version 2 \(up to date\)/);
  });
});
