import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { subjectFingerprint } from '../src/audit/postgres-sink.js';
import { PolicyStore } from '../src/policy-store/policy-store.service.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

describe('console API: admin read API and scope split', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let dir: string;
  let app: RunningApp;
  const tokensUsed: string[] = [];

  const config = (over: Record<string, unknown> = {}) => ({
    policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'deploy:write'] }],
    decision_logs: { file: { path: path.join(dir, 'logs/decisions.jsonl') } },
    revocation: { file: path.join(dir, 'revocations.json') },
    admin: { issuer: idp.issuer, audience: ADMIN_AUD },
    console: { enabled: true, oauth: { issuer: idp.issuer, client_id: 'toolgate-console', scopes: ['openid', 'toolgate:read', 'toolgate:admin'] }, reports_dir: path.join(dir, 'reports') },
    ...over,
  });

  const sign = async (claims: Record<string, unknown>) => {
    const t = await idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims });
    tokensUsed.push(t);
    return t;
  };
  const adminToken = async (scope: string, sub = 'ops') => {
    const t = await idp.sign({ sub, aud: ADMIN_AUD, scope, client_id: 'toolgate-console' });
    tokensUsed.push(t);
    return `Bearer ${t}`;
  };
  const call = (token: string, tool: string, args: Record<string, unknown>) => app.post('/v1/decisions', { token, server: 'demo', tool: { name: tool, arguments: args } });
  const read = async (p: string, scope = 'toolgate:read') => app.get(p, { authorization: await adminToken(scope) });

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-'));
    app = await startApp(config());
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  describe('scope split', () => {
    it('a read token lists revocations but cannot add or delete one; the admin scope can', async () => {
      const reader = await adminToken('toolgate:read');
      const admin = await adminToken('toolgate:admin');
      expect((await app.get('/v1/revocations', { authorization: reader })).status).toBe(200);

      const denied = await app.post('/v1/revocations', { kind: 'sub', value: 'mallory', reason: 'test' }, { authorization: reader });
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ code: 'caller_forbidden', message: expect.stringContaining('toolgate:admin') });
      expect(denied.body.message).toContain('read scope');
      expect(denied.headers.get('www-authenticate')).toContain('insufficient_scope');

      const created = await app.post('/v1/revocations', { kind: 'sub', value: 'mallory', reason: 'test' }, { authorization: admin });
      expect(created.status).toBe(201);
      const listed = (await app.get('/v1/revocations', { authorization: reader })).body as { revocations: { id: string }[] };
      expect(listed.revocations.map((r) => r.id)).toContain(created.body.id);

      const delByReader = await fetch(`${app.url}/v1/revocations/${String(created.body.id)}`, { method: 'DELETE', headers: { authorization: reader } });
      expect(delByReader.status).toBe(403);
      expect(((await delByReader.json()) as Json).code).toBe('caller_forbidden');
      const del = await fetch(`${app.url}/v1/revocations/${String(created.body.id)}`, { method: 'DELETE', headers: { authorization: admin } });
      expect(del.status).toBe(204);
    });

    it('a token with neither scope, a token for another audience, a cookie and no token are refused', async () => {
      for (const p of ['/v1/revocations', '/v1/admin/whoami', '/v1/admin/decisions', '/v1/admin/overview']) {
        expect((await read(p, 'refunds:write')).status).toBe(403);
        expect((await app.get(p)).status).toBe(401);
        // A browser's ambient credentials are never read: only the bearer header counts.
        expect((await app.get(p, { cookie: `token=${(await adminToken('toolgate:admin')).slice(7)}` })).status).toBe(401);
        const mcpToken = await sign({ sub: 'alice', scope: 'toolgate:admin' });
        expect((await app.get(p, { authorization: `Bearer ${mcpToken}` })).status).toBe(401);
      }
    });

    it('whoami names the caller and whether it may change revocations, never the token', async () => {
      const r = await read('/v1/admin/whoami');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ sub: 'ops', client_id: 'toolgate-console', scopes: ['toolgate:read'], can_admin: false });
      const a = await read('/v1/admin/whoami', 'toolgate:read toolgate:admin');
      expect(a.body).toMatchObject({ can_admin: true, scopes: ['toolgate:read', 'toolgate:admin'] });
      // The admin scope alone implies read.
      expect((await read('/v1/admin/whoami', 'toolgate:admin')).body).toMatchObject({ can_admin: true });
      for (const t of tokensUsed) expect(r.text + a.text).not.toContain(t.split('.')[2]);
    });

    it('sends no CORS headers, and refuses a cross-origin request (403 origin_forbidden, issue 24 item 9)', async () => {
      const r = await app.get('/v1/admin/whoami', { authorization: await adminToken('toolgate:read'), origin: 'https://evil.example' });
      expect([r.status, (r.body as { code?: string }).code]).toEqual([403, 'origin_forbidden']);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
      const own = await app.get('/v1/admin/whoami', { authorization: await adminToken('toolgate:read'), origin: app.url });
      expect(own.status).toBe(200);
      const pre = await fetch(`${app.url}/v1/admin/whoami`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('recorded decisions', () => {
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', client_id: 'agent-7' });
      const bob = await sign({ sub: 'bob', roles: ['support_agent'], scope: 'refunds:write' });
      ids.allowed = String((await call(alice, 'refunds.create', { order_id: 'o-1', amount: 50, currency: 'USD', card_number: '4111111111111111' })).body.decision_id);
      ids.tooMuch = String((await call(alice, 'refunds.create', { order_id: 'o-2', amount: 5000, currency: 'USD' })).body.decision_id);
      ids.deploy = String((await call(bob, 'deploy.trigger', { env: 'production' })).body.decision_id);
      ids.garbage = String((await call('garbage.token.here', 'refunds.create', {})).body.decision_id);
      for (let i = 0; i < 4; i++) ids[`bob${i}`] = String((await call(bob, 'refunds.create', { order_id: `b-${i}`, amount: 10, currency: 'USD' })).body.decision_id);
      await waitFor(async () => {
        const page = (await read('/v1/admin/decisions?limit=200')).body as Json;
        // A token that never verified logs to the unverified stream, which the admin API does not read.
        return Object.entries(ids).every(([k, id]) => k === 'garbage' || page.decisions?.some((d: Json) => d.decision_id === id));
      }, 15_000, 'decisions in the file sink');
    });

    it('lists them newest first with the row shape, from the file source', async () => {
      const r = await read('/v1/admin/decisions');
      expect(r.status).toBe(200);
      const body = r.body as Json;
      expect(body).toMatchObject({ source: 'file', truncated: false, scanned: expect.any(Number) });
      const rows = body.decisions as Json[];
      const times = rows.map((d) => Date.parse(d.at));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      const allowed = rows.find((d) => d.decision_id === ids.allowed)!;
      const active = ((await app.get('/v1/status')).body as Json).active;
      expect(allowed).toMatchObject({
        kind: 'decision',
        server: 'demo',
        tool: 'refunds.create',
        action: 'call',
        result: 'allow',
        code: null,
        subject: subjectFingerprint(idp.issuer, 'alice'),
        token_fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/),
        client_id: 'agent-7',
        revision: active.revision,
        content_hash: active.content_hash,
        duration_ms: expect.any(Number),
      });
      expect(rows.find((d) => d.decision_id === ids.tooMuch)).toMatchObject({ result: 'deny', code: 'policy_denied' });
      // Unverified requests log to a stream of their own (decision_logs.unverified): never in the audit trail the console reads.
      expect(rows.find((d) => d.decision_id === ids.garbage)).toBeUndefined();
      for (const t of tokensUsed) expect(r.text).not.toContain(t.split('.')[2]);
      expect(r.text).not.toContain('4111111111111111');
    });

    it('filters by tool, result, code, subject, server and revision', async () => {
      const q = async (qs: string) => ((await read(`/v1/admin/decisions?${qs}&limit=200`)).body as Json).decisions as Json[];
      const deploys = await q('tool=deploy.trigger');
      expect(deploys.map((d) => d.decision_id)).toEqual([ids.deploy]);
      const denies = await q('result=deny');
      expect(denies.length).toBeGreaterThanOrEqual(2);
      expect(denies.every((d) => d.result === 'deny')).toBe(true);
      expect((await q('code=policy_denied')).map((d) => d.decision_id)).toContain(ids.tooMuch);
      expect(await q('code=token_malformed')).toEqual([]);
      const alice = await q(`subject=${subjectFingerprint(idp.issuer, 'alice')}`);
      expect(alice.map((d) => d.decision_id).sort()).toEqual([ids.allowed, ids.tooMuch].sort());
      expect((await q('subject=alice')).length).toBe(2);
      expect(await q('server=nope')).toEqual([]);
      const hash = encodeURIComponent(((await app.get('/v1/status')).body as Json).active.content_hash);
      expect((await q(`revision=${hash}`)).length).toBeGreaterThanOrEqual(Object.keys(ids).length - 1); // all but the unverified one
      expect(await q('revision=sha256%3A0000')).toEqual([]);
      const future = new Date(Date.now() + 3600_000).toISOString();
      expect(await q(`since=${encodeURIComponent(future)}`)).toEqual([]);
      expect((await q(`until=${Math.floor(Date.now() / 1000) + 60}&tool=deploy.trigger`)).length).toBe(1);
    });

    it('pages with next_before without repeating or skipping a decision', async () => {
      const all = ((await read('/v1/admin/decisions?limit=200&subject=bob')).body as Json).decisions.map((d: Json) => d.decision_id);
      expect(all.length).toBe(5);
      const seen: string[] = [];
      let before = '';
      for (let i = 0; i < 10; i++) {
        const page = (await read(`/v1/admin/decisions?limit=2&subject=bob${before ? `&before=${before}` : ''}`)).body as Json;
        seen.push(...page.decisions.map((d: Json) => d.decision_id));
        if (!page.next_before) break;
        before = encodeURIComponent(page.next_before);
      }
      expect(seen).toEqual(all);
    });

    it.each([
      ['limit=0'],
      ['limit=201'],
      ['limit=ten'],
      ['result=maybe'],
      ['since=yesterday'],
      ['since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z'],
      ['before=not-a-cursor'],
      ['colour=red'],
      ['tool=a&tool=b'],
    ])('answers 400 invalid_request to %s', async (qs) => {
      const r = await read(`/v1/admin/decisions?${qs}`);
      expect(r.status).toBe(400);
      expect((r.body as Json).code).toBe('invalid_request');
    });

    it('shows one recorded, masked event; unknown ids are 404, malformed ones 400', async () => {
      const r = await read(`/v1/admin/decisions/${ids.allowed}`);
      expect(r.status).toBe(200);
      const body = r.body as Json;
      expect(body.shadow).toBeNull();
      expect(body.event).toMatchObject({
        decision_id: ids.allowed,
        outcome: { allow: true },
        result: { allow: true },
        input: { server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', card_last4: '1111' } } },
        erased: ['/input/tool/arguments/card_number'],
      });
      expect(r.text).not.toContain('4111111111111111');
      const missing = await read('/v1/admin/decisions/00000000-0000-4000-8000-000000000000');
      expect(missing.status).toBe(404);
      expect((missing.body as Json).code).toBe('not_found');
      expect((await read('/v1/admin/decisions/..%2F..%2Fetc')).status).toBe(400);
    });

    it('overview: active revision, rates by result and code over every recorded decision, token cache and JWKS health', async () => {
      const r = await read('/v1/admin/overview');
      expect(r.status).toBe(200);
      const o = r.body as Json;
      const status = (await app.get('/v1/status')).body as Json;
      const a = status.active;
      expect(o.revision).toEqual({ label: a.revision, content_hash: a.content_hash, loaded_at: a.loaded_at, source: a.source });
      expect(o.last_failure).toBeNull();
      expect(o.rates).toMatchObject({ source: 'file', bucket_s: 10, window_s: 600 });
      expect(o.rates.buckets).toHaveLength(60);
      const buckets = o.rates.buckets as { t: number; allow: number; deny: Record<string, number> }[];
      const all = ((await read('/v1/admin/decisions?limit=200')).body as Json).decisions as Json[];
      const allows = buckets.reduce((n, b) => n + b.allow, 0);
      const malformed = buckets.reduce((n, b) => n + (b.deny.token_malformed ?? 0), 0);
      expect(allows).toBe(all.filter((d) => d.result === 'allow').length);
      expect(malformed).toBe(all.filter((d) => d.code === 'token_malformed').length);
      expect(buckets[59].t * 1000).toBeLessThanOrEqual(Date.now());
      expect(o.token_cache).toMatchObject({ entries: expect.any(Number), max_entries: 10_000, hits: expect.any(Number), misses: expect.any(Number) });
      expect(o.token_cache.misses).toBeGreaterThan(0);
      expect(o.jwks).toEqual([expect.objectContaining({ issuer: idp.issuer, ok: true, keys: 1, last_error: null, last_fetch_at: expect.any(String) })]);
      expect(o.shadow).toBeNull();
      expect((await read('/v1/admin/shadow')).body).toEqual({ enabled: false });
    });
  });

  describe('revisions', () => {
    it('keeps the sources of each activation and diffs two real revisions', async () => {
      const first = (await read('/v1/admin/revisions')).body as Json;
      expect(first.revisions).toHaveLength(1);
      const a = first.revisions[0];
      expect(a).toMatchObject({ content_hash: first.active, has_sources: true, source: { kind: 'source' } });
      const srcA = (await read(`/v1/admin/revisions/${encodeURIComponent(a.content_hash)}/sources`)).body as Json;
      expect(srcA.content_hash).toBe(a.content_hash);
      const rego = (srcA.files as { path: string; content: string }[]).filter((f) => f.path.endsWith('.rego'));
      expect(rego.length).toBeGreaterThan(0);
      expect(rego.some((f) => f.content.includes('package mcp.authz'))).toBe(true);
      expect(srcA.files.some((f: Json) => f.path.endsWith('.wasm'))).toBe(false);

      await ws.write('policies/console_marker.rego', 'package console.marker\n\nmarker := "second revision"\n');
      const store = app.app.get(PolicyStore);
      await store.loadConfigured();
      const second = (await read('/v1/admin/revisions')).body as Json;
      expect(second.revisions).toHaveLength(2);
      const b = second.revisions[0];
      expect(second.active).toBe(b.content_hash);
      expect(b.content_hash).not.toBe(a.content_hash);

      const d = await read(`/v1/admin/revisions/diff?from=${encodeURIComponent(a.content_hash)}&to=${encodeURIComponent(b.content_hash)}`);
      expect(d.status).toBe(200);
      const diff = d.body as Json;
      expect(diff.from.content_hash).toBe(a.content_hash);
      expect(diff.to.content_hash).toBe(b.content_hash);
      const added = (diff.files as Json[]).find((f) => f.path.endsWith('console_marker.rego'));
      expect(added).toMatchObject({ status: 'added' });
      expect(added!.patch).toContain('+marker := "second revision"');
      // Unchanged files are not part of the diff.
      expect((diff.files as Json[]).some((f) => f.path.endsWith('.rego') && !f.path.endsWith('console_marker.rego'))).toBe(false);
      const back = (await read(`/v1/admin/revisions/diff?from=${encodeURIComponent(b.content_hash)}&to=${encodeURIComponent(a.content_hash)}`)).body as Json;
      expect(back.files.find((f: Json) => f.path.endsWith('console_marker.rego')).status).toBe('removed');
    });

    it('refuses malformed hashes (400) and answers 404 for a revision it does not keep', async () => {
      expect((await read('/v1/admin/revisions/diff?from=abc&to=def')).status).toBe(400);
      expect((await read('/v1/admin/revisions/diff')).status).toBe(400);
      expect((await read('/v1/admin/revisions/not-a-hash/sources')).status).toBe(400);
      const unknown = `sha256:${'0'.repeat(64)}`;
      const r = await read(`/v1/admin/revisions/${encodeURIComponent(unknown)}/sources`);
      expect(r.status).toBe(404);
      expect((r.body as Json).code).toBe('not_found');
    });
  });

  describe('reports', () => {
    it('lists JSON reports with their kind and opens one; refuses names that leave the directory', async () => {
      const reports = path.join(dir, 'reports');
      await mkdir(reports, { recursive: true });
      const replay = { candidate: { location: 'x', revision: 'r2', content_hash: 'sha256:1' }, baseline: { location: 'y', revision: 'r1', content_hash: 'sha256:2' }, replayed: 12, same: 12 };
      await writeFile(path.join(reports, 'replay-1.json'), JSON.stringify(replay));
      await writeFile(path.join(reports, 'privileges-1.json'), JSON.stringify({ kind: 'privileges', findings: [] }));
      await writeFile(path.join(reports, 'other.json'), '{"hello": 1}');
      await writeFile(path.join(reports, 'privileges-by-name.json'), '{"findings": []}');
      await writeFile(path.join(reports, 'replay-broken.json'), '{"not json');
      await writeFile(path.join(reports, 'notes.txt'), 'not a report');
      await writeFile(path.join(dir, 'secret.json'), '{"secret": true}');
      await symlink(path.join(dir, 'secret.json'), path.join(reports, 'link.json'));

      const list = (await read('/v1/admin/reports')).body as Json;
      const byName = Object.fromEntries((list.reports as Json[]).map((r) => [r.name, r]));
      expect(Object.keys(byName).sort()).toEqual(['other.json', 'privileges-1.json', 'privileges-by-name.json', 'replay-1.json', 'replay-broken.json']);
      expect(byName['privileges-by-name.json'].kind).toBe('privileges');
      expect(byName['replay-broken.json'].kind).toBe('unknown');
      expect((await read('/v1/admin/reports/replay-broken.json')).status).toBe(404);
      expect(byName['replay-1.json']).toMatchObject({ kind: 'replay', bytes: JSON.stringify(replay).length, created_at: expect.any(String) });
      expect(byName['privileges-1.json'].kind).toBe('privileges');
      expect(byName['other.json'].kind).toBe('unknown');

      expect((await read('/v1/admin/reports/replay-1.json')).body).toEqual(replay);
      expect((await read('/v1/admin/reports/link.json')).status).toBe(404);
      for (const name of ['..%2Fsecret.json', '%2E%2E%2Fsecret.json', '.hidden.json', 'notes.txt']) {
        const r = await read(`/v1/admin/reports/${name}`);
        expect([400, 404]).toContain(r.status);
        expect(r.text).not.toContain('secret');
      }
      expect((await read('/v1/admin/reports/..%2Fsecret.json')).status).toBe(400);
      expect((await read('/v1/admin/reports/missing.json')).status).toBe(404);
    });
  });
});
