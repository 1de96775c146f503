import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { subjectFingerprint } from '../src/audit/postgres-sink.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { TestPostgres } from './support/postgres.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

describe('console API over the PostgreSQL decision store', () => {
  let idp: TestIssuer;
  let db: TestPostgres;
  let dir: string;
  let app: RunningApp;
  const ids: Record<string, string> = {};

  const read = async (p: string) => app.get(p, { authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:read' })}` });
  const q = async (qs: string) => ((await read(`/v1/admin/decisions?${qs}`)).body as Json);

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    db = await TestPostgres.create();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-pg-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'deploy:write'] }],
      // Both sinks: the console prefers the store, which holds every replica's decisions.
      decision_logs: {
        file: { path: path.join(dir, 'decisions.jsonl') },
        postgres: { url: db.url, connect_timeout_ms: 1000, statement_timeout_ms: 2000, flush_interval_ms: 50, max_backoff_ms: 300 },
      },
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
    });
    const sign = (claims: Record<string, unknown>) => idp.sign({ aud: RESOURCE, ...claims });
    const call = async (token: string, tool: string, args: Record<string, unknown>) =>
      String((await app.post('/v1/decisions', { token, server: 'demo', tool: { name: tool, arguments: args } })).body.decision_id);
    const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const bob = await sign({ sub: 'bob', roles: ['support_agent'], scope: 'refunds:write' });
    ids.allowed = await call(alice, 'refunds.create', { order_id: 'o-1', amount: 50, currency: 'USD', card_number: '4111111111111111' });
    ids.tooMuch = await call(alice, 'refunds.create', { order_id: 'o-2', amount: 5000, currency: 'USD' });
    ids.deploy = await call(bob, 'deploy.trigger', { env: 'production' });
    for (let i = 0; i < 3; i++) ids[`bob${i}`] = await call(bob, 'refunds.create', { order_id: `b-${i}`, amount: 10, currency: 'USD' });
    await waitFor(async () => ((await q('limit=200')).decisions as Json[] | undefined)?.length === Object.keys(ids).length, 15_000, 'decisions in PostgreSQL');
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await db?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('searches the store with the same filters and row shape as the file source', async () => {
    const all = await q('limit=200');
    expect(all).toMatchObject({ source: 'postgres', truncated: false });
    const active = ((await app.get('/v1/status')).body as Json).active;
    expect((all.decisions as Json[]).find((d) => d.decision_id === ids.allowed)).toMatchObject({
      server: 'demo',
      tool: 'refunds.create',
      result: 'allow',
      subject: subjectFingerprint(idp.issuer, 'alice'),
      revision: active.revision,
      content_hash: active.content_hash,
    });
    expect((await q('tool=deploy.trigger')).decisions.map((d: Json) => d.decision_id)).toEqual([ids.deploy]);
    // bob (a support agent) may not deploy either.
    expect((await q('code=policy_denied')).decisions.map((d: Json) => d.decision_id).sort()).toEqual([ids.tooMuch, ids.deploy].sort());
    expect((await q(`subject=${subjectFingerprint(idp.issuer, 'alice')}`)).decisions).toHaveLength(2);
    expect((await q('subject=bob&result=allow')).decisions).toHaveLength(3);
    expect((await q(`revision=${encodeURIComponent(active.content_hash)}`)).decisions).toHaveLength(Object.keys(ids).length);
    expect((await q(`revision=${encodeURIComponent(active.revision)}`)).decisions).toHaveLength(Object.keys(ids).length);
    expect((await q(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).decisions).toEqual([]);
  });

  it('pages newest first without repeating or skipping', async () => {
    const all = ((await q('limit=200')).decisions as Json[]).map((d) => d.decision_id);
    const seen: string[] = [];
    let before = '';
    for (let i = 0; i < 10; i++) {
      const page = await q(`limit=4${before ? `&before=${encodeURIComponent(before)}` : ''}`);
      seen.push(...page.decisions.map((d: Json) => d.decision_id));
      if (!page.next_before) break;
      before = page.next_before;
    }
    expect(seen).toEqual(all);
  });

  it('opens one masked event by id and counts rates from the store', async () => {
    const r = await read(`/v1/admin/decisions/${ids.allowed}`);
    expect(r.status).toBe(200);
    expect((r.body as Json).event).toMatchObject({ decision_id: ids.allowed, input: { tool: { arguments: { card_last4: '1111' } } } });
    expect(r.text).not.toContain('4111111111111111');
    expect((await read('/v1/admin/decisions/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const o = (await read('/v1/admin/overview')).body as Json;
    expect(o.rates.source).toBe('postgres');
    const buckets = o.rates.buckets as { allow: number; deny: Record<string, number> }[];
    expect(buckets.reduce((n, b) => n + b.allow, 0)).toBe(4);
    expect(buckets.reduce((n, b) => n + (b.deny.policy_denied ?? 0), 0)).toBe(2);
  });

  it('answers 503 decision_store_unavailable while the store is down, never a 500', async () => {
    await db.crash();
    try {
      const r = await read('/v1/admin/decisions');
      expect(r.status).toBe(503);
      expect((r.body as Json).code).toBe('decision_store_unavailable');
    } finally {
      await db.start();
    }
  });
});
