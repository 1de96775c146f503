import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';
const FLOOD = 1000;
const MB = 1024 * 1024;

type Json = Record<string, any>;

describe('requests whose token never verified cannot push decisions out of the audit trail', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let dir: string;
  let app: RunningApp;
  const logFile = () => path.join(dir, 'logs/decisions.jsonl');

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-unverified-'));
    app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['invoices:read'] }],
      // Small rotations, so on the old code the flood rotates the allow off disk quickly instead of writing 1 GB.
      decision_logs: { file: { path: logFile(), max_bytes: 8 * MB, max_files: 1 }, buffer_max_events: 100_000 },
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
      limits: { body_bytes: 2 * MB },
    });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it(`after ${FLOOD} unverified 1 MB requests, an earlier allow is still found by its id; the flood is capped and counted`, async () => {
    const admin = `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:read' })}`;
    const token = await idp.sign({ aud: RESOURCE, sub: 'alice', roles: ['finance'], scope: 'invoices:read' });
    const allowed = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'inv-1' } } });
    expect(allowed.body).toMatchObject({ allow: true });
    const id = String(allowed.body.decision_id);
    await waitFor(async () => (await app.get(`/v1/admin/decisions/${id}`, { authorization: admin })).status === 200, 10_000, 'the allow in the admin API');

    // The same 1 MB body each time, sent 16 at a time over loopback.
    const body = JSON.stringify({ token: 'not.a.token', server: 'demo', tool: { name: 'invoices.read', arguments: { junk: 'x'.repeat(MB - 80) } } });
    expect(body.length).toBeGreaterThanOrEqual(MB);
    let next = 0;
    const floodStarted = Date.now();
    const codes = new Map<string, number>();
    const worker = async () => {
      while (next < FLOOD) {
        next++;
        const r = await fetch(`${app.url}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const code = String(((await r.json()) as Json).code);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(codes).toEqual(new Map([['token_malformed', FLOOD]]));

    // The allow is still there, by id, in the admin API (the console's source).
    const found = await app.get(`/v1/admin/decisions/${id}`, { authorization: admin });
    expect(found.status).toBe(200);
    expect((found.body as Json).event).toMatchObject({ decision_id: id, outcome: { allow: true } });
    const rows = (await app.get('/v1/admin/decisions?result=allow', { authorization: admin })).body as Json;
    expect(rows.decisions.map((d: Json) => d.decision_id)).toContain(id);

    // The audit trail holds one small event; the flood went to its own, capped stream.
    expect((await stat(logFile())).size).toBeLessThan(64 * 1024);
    const status = await waitFor(async () => {
      const s = (await app.get('/v1/status')).body as Json;
      const u = (s.decision_logs as Json[]).find((x) => x.name === 'unverified');
      const f = (s.decision_logs as Json[]).find((x) => x.name === 'unverified_file');
      return u && f && f.written === u.written && f.buffered === 0 && { u, f };
    }, 10_000, 'the unverified stream to be written');
    expect(status.u.written + status.u.dropped).toBe(FLOOD);
    // At most the default burst of 100 plus a refill of 20/s over the flood's duration is kept; the rest is counted as dropped.
    const keptAtMost = 100 + Math.ceil((20 * (Date.now() - floodStarted)) / 1000);
    expect(status.u.written).toBeLessThanOrEqual(keptAtMost);
    expect(status.u.dropped).toBeGreaterThanOrEqual(FLOOD - keptAtMost);
    const metrics = (await app.get('/metrics')).text;
    expect(metrics).toMatch(new RegExp(`toolgate_decision_log_events\\{sink="unverified",state="dropped"\\} ${status.u.dropped}\\b`));
    const lines = (await readFile(`${logFile()}.unverified`, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(status.u.written);
    for (const l of lines) {
      expect(Buffer.byteLength(l)).toBeLessThanOrEqual(4096);
      const e = JSON.parse(l) as Json;
      expect(e).toMatchObject({ outcome: { allow: false, code: 'token_malformed' }, erased: ['/input/tool/arguments'] });
      expect(e.input.tool).not.toHaveProperty('arguments');
    }
  }, 120_000);
});
