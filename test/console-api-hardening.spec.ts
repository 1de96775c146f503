import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { appendFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { answerFor } from '../src/common/error.filter.js';
import { AdminBusyError, FileDecisionSource } from '../src/console-api/decision-files.js';
import { decisionWhere } from '../src/console-api/decision-postgres.js';
import { parseDecisionFilter } from '../src/console-api/decision-query.js';
import { subjectFingerprint } from '../src/audit/postgres-sink.js';
import { ConsoleStatic } from '../src/console-api/console-static.js';
import { diffFiles } from '../src/console-api/revision-archive.js';
import { AdminAuthGuard } from '../src/token/admin-auth.guard.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

/** A recorded event as the file sink writes it; `i` makes id, time and outcome. */
function event(i: number): string {
  const allow = i % 3 !== 0;
  return JSON.stringify({
    decision_id: `ev-${String(i).padStart(6, '0')}`,
    timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    kind: 'decision',
    input: { server: 'demo', tool: { name: i % 2 ? 'refunds.create' : 'orders.read' } },
    outcome: { allow, code: allow ? null : 'role_missing' },
    token: { issuer: 'https://idp.example', subject: `user-${i % 7}`, fingerprint: 'abcdefabcdef' },
    revision: 'r1',
    // Padding so the log has the size of real events.
    note: 'x'.repeat(300),
  });
}

describe('console API hardening: bounded scans and diffs, write scope, static links, bad URLs', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let dir: string;
  let app: RunningApp;

  const adminToken = async (scope: string) => `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope })}`;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-hardening-'));
    await mkdir(path.join(dir, 'logs'), { recursive: true });
    // An older rotation with many events: every admin search has real parsing to do.
    const big: string[] = [];
    for (let i = 0; i < 12_000; i++) big.push(event(i));
    await writeFile(path.join(dir, 'logs/decisions.jsonl.1'), big.join('\n') + '\n');
    app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      decision_logs: { file: { path: path.join(dir, 'logs/decisions.jsonl') } },
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
      console: { enabled: true, oauth: { issuer: idp.issuer, client_id: 'toolgate-console', scopes: ['openid', 'toolgate:read'] }, reports_dir: path.join(dir, 'reports') },
    });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  describe('file-source scans', () => {
    let logs: string;
    const N = 6000;
    beforeAll(async () => {
      logs = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-scan-'));
      const l: string[] = [];
      for (let i = 0; i < N; i++) l.push(event(i));
      await writeFile(path.join(logs, 'decisions.jsonl'), l.join('\n') + '\n');
    });
    afterAll(() => rm(logs, { recursive: true, force: true }));

    it('concurrent searches share one parse, run at most the bound at once, and answer correctly', async () => {
      let scans = 0;
      let most = 0;
      const src = new FileDecisionSource(path.join(logs, 'decisions.jsonl'), {
        onScan: (running) => {
          scans++;
          most = Math.max(most, running);
        },
      });
      const filters = Array.from({ length: 40 }, (_, k) => ({ limit: String(1 + (k % 5)), ...(k % 2 ? { result: 'deny' } : { tool: 'refunds.create' }) }));
      const pages = await Promise.all(filters.map((q) => src.search(parseDecisionFilter(q))));
      expect(scans).toBe(1);
      expect(most).toBe(1);
      pages.forEach((p, k) => {
        const want = Array.from({ length: N }, (_, i) => N - 1 - i)
          .filter((i) => (k % 2 ? i % 3 === 0 : i % 2 === 1))
          .slice(0, 1 + (k % 5))
          .map((i) => `ev-${String(i).padStart(6, '0')}`);
        expect(p.decisions.map((d) => d.decision_id)).toEqual(want);
        expect(p.scanned).toBe(N);
      });
      // Unchanged files: the parsed tail is reused. A new event: parsed again and found.
      await src.search(parseDecisionFilter({}));
      expect(scans).toBe(1);
      await appendFile(path.join(logs, 'decisions.jsonl'), event(N) + '\n');
      const fresh = await src.search(parseDecisionFilter({ limit: '1' }));
      expect(fresh.decisions[0].decision_id).toBe(`ev-${String(N).padStart(6, '0')}`);
      expect(scans).toBe(2);
    });

    it('lookups by id beyond the bound are refused as admin_busy (503, Retry-After), never run at once', async () => {
      let most = 0;
      const src = new FileDecisionSource(path.join(logs, 'decisions.jsonl'), { onScan: (running) => (most = Math.max(most, running)) });
      const ids = Array.from({ length: 12 }, (_, k) => `ev-${String(k * 400).padStart(6, '0')}`);
      const got = await Promise.allSettled(ids.map((id) => src.get(id)));
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);
      let answered = 0;
      got.forEach((g, k) => {
        if (g.status === 'fulfilled') {
          answered++;
          expect(g.value?.decision_id).toBe(ids[k]);
        } else {
          expect(g.reason).toBeInstanceOf(AdminBusyError);
        }
      });
      expect(answered).toBeGreaterThanOrEqual(1);
      const a = answerFor(new AdminBusyError());
      expect(a).toMatchObject({ status: 503, body: { code: 'admin_busy' }, headers: { 'retry-after': '1' } });
      // Once the others are done, a lookup runs again.
      expect((await src.get(ids[11]))?.decision_id).toBe(ids[11]);
    });

    it('decisions keep being answered while many admin searches run; searches answer 200 or 503 admin_busy', async () => {
      const read = await adminToken('toolgate:read');
      const token = await idp.sign({ aud: RESOURCE, sub: 'u1', roles: ['support_agent'], scope: 'refunds:write' });
      const searches = Array.from({ length: 30 }, (_, k) => app.get(`/v1/admin/decisions?limit=5&tool=${k % 2 ? 'refunds.create' : 'orders.read'}`, { authorization: read }));
      const lookups = Array.from({ length: 6 }, (_, k) => app.get(`/v1/admin/decisions/ev-${String(k * 1000).padStart(6, '0')}`, { authorization: read }));
      const decision = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 10, currency: 'USD' } } });
      expect(decision.status).toBe(200);
      expect(decision.body).toMatchObject({ allow: true });
      const answers = await Promise.all([...searches, ...lookups]);
      for (const r of answers) {
        if (r.status === 503) {
          expect(r.body).toEqual({ code: 'admin_busy', message: expect.any(String) });
          expect(r.headers.get('retry-after')).toBe('1');
        } else expect(r.status).toBe(200);
      }
      const ok = answers.slice(0, 30).filter((r) => r.status === 200);
      expect(ok.length).toBe(30);
      for (const r of ok) expect(((r.body as Json).decisions as Json[]).length).toBe(5);
    });
  });

  describe('revision diffs', () => {
    it('reports files that differ on too many lines as too_large_to_diff, and still diffs the small ones', () => {
      const lines = (tag: string) => Array.from({ length: 3000 }, (_, i) => `"${tag}-${i}": ${i},`).join('\n');
      const from = [
        { path: '/data/big.json', content: lines('a') },
        { path: '/policy/p.rego', content: 'package p\nallow := false\n' },
      ];
      const to = [
        { path: '/data/big.json', content: lines('b') },
        { path: '/policy/p.rego', content: 'package p\nallow := true\n' },
      ];
      // Only the edit-length bound decides here (no time limit in play): the outcome does not depend on the machine.
      const d = diffFiles(from, to, 'a', 'b', { MAX_EDIT_LINES: 500, TIMEOUT_MS: 600_000, TOTAL_MS: 600_000, MAX_BYTES: 4 * 1024 * 1024 });
      expect(d).toEqual([
        { path: '/data/big.json', status: 'changed', patch: null, too_large_to_diff: true },
        { path: '/policy/p.rego', status: 'changed', patch: expect.stringContaining('+allow := true') },
      ]);
    });

    it('stops diffing once the byte budget of a request is spent', () => {
      const from = [
        { path: '/a.rego', content: 'package a\nx := 1\n' },
        { path: '/b.rego', content: 'package b\nx := 1\n' },
      ];
      const to = [
        { path: '/a.rego', content: 'package a\nx := 2\n' },
        { path: '/b.rego', content: 'package b\nx := 2\n' },
      ];
      const d = diffFiles(from, to, 'a', 'b', { MAX_EDIT_LINES: 5000, TIMEOUT_MS: 60_000, TOTAL_MS: 60_000, MAX_BYTES: 40 });
      expect(d[0]).toMatchObject({ path: '/a.rego', patch: expect.stringContaining('+x := 2') });
      expect(d[1]).toEqual({ path: '/b.rego', status: 'changed', patch: null, too_large_to_diff: true });
    });
  });

  describe('admin write scope', () => {
    it('any non-GET/HEAD admin request needs the admin scope, even on a handler not marked @AdminWrite', async () => {
      const guard = app.app.get(AdminAuthGuard);
      class Unmarked {
        change(): void {}
        look(): void {}
      }
      const ctx = (method: string, authorization: string) => new ExecutionContextHost([{ method, headers: { authorization } }, {}], Unmarked, Unmarked.prototype.change);
      const read = await adminToken('toolgate:read');
      const admin = await adminToken('toolgate:admin');
      for (const m of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        await expect(guard.canActivate(ctx(m, read))).rejects.toMatchObject({ code: 'caller_forbidden' });
        await expect(guard.canActivate(ctx(m, admin))).resolves.toBe(true);
      }
      await expect(guard.canActivate(ctx('GET', read))).resolves.toBe(true);
      await expect(guard.canActivate(ctx('HEAD', read))).resolves.toBe(true);
    });
  });

  describe('static console', () => {
    let spa: string;
    beforeAll(async () => {
      spa = path.join(dir, 'spa');
      await mkdir(spa, { recursive: true });
      await writeFile(path.join(spa, 'index.html'), '<!doctype html><title>console</title>');
      await writeFile(path.join(dir, 'secret.txt'), 'outside the root');
      await symlink(path.join(dir, 'secret.txt'), path.join(spa, 'leak.txt'));
      await symlink(dir, path.join(spa, 'up'));
      app.app.get(ConsoleStatic).root = spa;
    });

    it('refuses symlinks that lead out of the static root (404)', async () => {
      for (const p of ['/console/leak.txt', '/console/up/secret.txt']) {
        const r = await app.get(p);
        expect(r.status).toBe(404);
        expect(r.text).not.toContain('outside the root');
      }
    });

    it('console_not_built does not reveal the install path', async () => {
      const s = app.app.get(ConsoleStatic);
      const empty = await mkdtemp(path.join(os.tmpdir(), 'toolgate-spa-empty-'));
      s.root = empty;
      try {
        const r = await app.get('/console/');
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ code: 'console_not_built' });
        expect(r.text).not.toContain(empty);
        expect(r.text).not.toContain(os.tmpdir());
      } finally {
        s.root = spa;
        await rm(empty, { recursive: true, force: true });
      }
    });
  });

  describe('reports', () => {
    it('sends a report byte for byte and parses a listed report only when its size or mtime changes', async () => {
      const reports = path.join(dir, 'reports');
      await mkdir(reports, { recursive: true });
      const read = { authorization: await adminToken('toolgate:read') };
      // Spacing and 1.50 would not survive a parse and re-serialization.
      const raw = '{ "kind": "replay",\n  "ratio": 1.50, "same": 3 }\n';
      await writeFile(path.join(reports, 'replay-raw.json'), raw);
      const one = await app.get('/v1/admin/reports/replay-raw.json', read);
      expect(one.status).toBe(200);
      expect(one.headers.get('content-type')).toMatch(/^application\/json/);
      expect(one.text).toBe(raw);

      const file = path.join(reports, 'cached.json');
      const kindOf = async () => (((await app.get('/v1/admin/reports', read)).body as Json).reports as Json[]).find((r) => r.name === 'cached.json')?.kind;
      const when = new Date('2026-01-01T00:00:00Z');
      await writeFile(file, '{"kind":"privileges"}');
      await utimes(file, when, when);
      expect(await kindOf()).toBe('privileges');
      // Same size, same mtime: the listing does not read the file again.
      await writeFile(file, '{"kind":"replay"    }');
      await utimes(file, when, when);
      expect(await kindOf()).toBe('privileges');
      // A new mtime: parsed again.
      await utimes(file, when, new Date('2026-01-02T00:00:00Z'));
      expect(await kindOf()).toBe('replay');
    });
  });

  describe('PostgreSQL search columns', () => {
    it('reads one column per filter, chosen by the value’s shape, never an OR over unindexed JSON paths', () => {
      const issuers = ['https://idp.example', 'https://other.example'];
      const w = (q: Record<string, string>) => decisionWhere(parseDecisionFilter(q), issuers);
      const fp = subjectFingerprint(issuers[0], 'alice')!;
      expect(w({ subject: fp })).toEqual({ where: ['subject_fingerprint = $1'], args: [fp] });
      expect(w({ subject: 'abcdefabcdef' })).toEqual({ where: ['token_fingerprint = $1'], args: ['abcdefabcdef'] });
      expect(w({ subject: 'alice' })).toEqual({ where: ['subject_fingerprint = ANY($1::text[])'], args: [[fp, subjectFingerprint(issuers[1], 'alice')]] });
      expect(w({ revision: 'r1' })).toEqual({ where: ['revision = $1'], args: ['r1'] });
      const hash = `sha256:${'a'.repeat(64)}`;
      expect(w({ revision: hash })).toEqual({ where: ["event#>>'{bundles,toolgate,content_hash}' = $1"], args: [hash] });
    });
  });

  it('documents admin_busy and too_large_to_diff in OpenAPI', async () => {
    const doc = (await app.get('/openapi.json')).body as Json;
    for (const p of ['/v1/admin/decisions', '/v1/admin/decisions/{id}', '/v1/admin/overview']) {
      const busy = doc.paths[p].get.responses['503'];
      expect(busy.description).toContain('admin_busy');
      expect(busy.headers['Retry-After']).toBeDefined();
    }
    const file = doc.paths['/v1/admin/revisions/diff'].get.responses['200'].content['application/json'].schema.properties.files.items.properties;
    expect(file.too_large_to_diff).toBeDefined();
    expect(file.patch.nullable).toBe(true);
  });

  it('a URL that does not decode is a 400 {code, message}, not Fastify’s own body', async () => {
    for (const p of ['/console/%E0%A4%A', '/v1/admin/decisions/%E0%A4%A', '/v1/status%ZZ']) {
      const r = await app.get(p);
      expect(r.status).toBe(400);
      expect(Object.keys(r.body as Json).sort()).toEqual(['code', 'message']);
      expect((r.body as Json).code).toBe('invalid_request');
    }
  });
});
