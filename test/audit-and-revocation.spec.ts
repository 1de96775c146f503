import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { TestCollector } from './support/collector.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

describe('decision logs and revocation', () => {
  let idp: TestIssuer;
  let collector: TestCollector;
  let dir: string;
  let app: RunningApp;
  const tokensUsed: string[] = [];

  const config = () => ({
    policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
    decision_logs: {
      file: { path: path.join(dir, 'logs/decisions.jsonl') },
      http: { url: collector.url, flush_interval_ms: 100, max_backoff_ms: 300, timeout_ms: 1000 },
    },
    revocation: { file: path.join(dir, 'revocations.json') },
    admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
    instance_id: 'test-1',
  });

  const sign = async (claims: Record<string, unknown>) => {
    const t = await idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims });
    tokensUsed.push(t);
    return t;
  };
  const refund = (token: string, extra: Record<string, unknown> = {}) =>
    app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD', ...extra } } });
  const admin = async (scope = 'toolgate:admin') => `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope })}`;
  const fileLines = async () => (await readFile(path.join(dir, 'logs/decisions.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    collector = await TestCollector.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-audit-'));
    app = await startApp(config());
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await collector?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs every decision exactly once, masked, to the file and the collector, and never a token', async () => {
    const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', client_id: 'agent-7' });
    const ids: string[] = [];
    ids.push(String((await refund(alice, { card_number: '4111111111111111' })).body.decision_id));
    ids.push(String((await refund(alice, { amount: 5000 })).body.decision_id));
    // A token that never verified: its event goes to the unverified stream (decision_logs.unverified), not the audit trail.
    const badTokenId = String((await refund('garbage.token.here')).body.decision_id);
    ids.push(String((await refund(await sign({ sub: 'alice', roles: ['support_agent'], scope: '' }))).body.decision_id));
    const list = await app.post('/v1/decisions/tools', { token: alice, server: 'demo', tools: [{ name: 'refunds.create', annotations: { readOnlyHint: false } }, { name: 'deploy.trigger' }] });
    ids.push(String(list.body.decision_id));

    const lines = await waitFor(async () => {
      const l = await fileLines();
      return ids.every((id) => l.some((x) => x.includes(id))) && l;
    }, 10_000, 'file sink');
    await waitFor(() => ids.every((id) => collector.events.some((e) => e.decision_id === id)), 10_000, 'collector');

    const events = lines.map((l) => JSON.parse(l) as Record<string, any>);
    for (const id of ids) {
      expect(events.filter((e) => e.decision_id === id)).toHaveLength(1);
      expect(collector.events.filter((e) => e.decision_id === id)).toHaveLength(1);
    }
    const [allowed, denied, noScope, listed] = ids.map((id) => events.find((e) => e.decision_id === id)!);
    expect(events.some((e) => e.decision_id === badTokenId)).toBe(false);
    expect(collector.events.some((e) => e.decision_id === badTokenId)).toBe(false);
    const unverified = await waitFor(async () => {
      const l = (await readFile(path.join(dir, 'logs/decisions.jsonl.unverified'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      return l.some((x) => x.includes(badTokenId)) && l.map((x) => JSON.parse(x) as Record<string, any>);
    }, 10_000, 'unverified stream');
    const badToken = unverified.find((e) => e.decision_id === badTokenId)!;
    expect(allowed).toMatchObject({
      path: 'mcp/authz/decision',
      kind: 'decision',
      outcome: { allow: true },
      result: { allow: true, reasons: [] },
      labels: { id: 'test-1', app: 'toolgate' },
      requested_by: 'anonymous',
      token: { issuer: idp.issuer, subject: 'alice', client_id: 'agent-7', jti: expect.any(String), fingerprint: expect.stringMatching(/^[0-9a-f]{12}$/) },
      erased: ['/input/tool/arguments/card_number'],
      masked: ['/input/tool/arguments/card_last4'],
      metrics: { timer_server_handler_ns: expect.any(Number) },
    });
    expect(allowed.bundles.toolgate.revision).toBe(allowed.revision);
    expect(allowed.input.tool.arguments).toEqual({ order_id: 'o-1', amount: 50, currency: 'USD', card_last4: '1111' });
    expect(allowed.input).toMatchObject({ claims: { sub: 'alice' }, scopes: ['refunds:write'], server: 'demo', action: 'call', time: expect.any(String) });
    expect(denied).toMatchObject({ outcome: { allow: false, code: 'policy_denied', http_status: 403 } });
    expect(badToken).toMatchObject({ outcome: { allow: false, code: 'token_malformed', http_status: 401 } });
    expect(badToken.input?.claims).toBeUndefined();
    expect(badToken.result).toBeUndefined();
    expect(noScope).toMatchObject({ outcome: { code: 'insufficient_scope' } });
    expect(listed).toMatchObject({ kind: 'tools', outcome: { allow: true, allowed: ['refunds.create'] } });
    // Each listed tool as its evaluation saw it, annotations included, so replay can re-evaluate it.
    expect(listed.input).toMatchObject({
      action: 'list',
      kind: 'tool',
      claims: { sub: 'alice' },
      items: [
        { tool: { name: 'refunds.create', arguments: {}, annotations: { readOnlyHint: false } } },
        { tool: { name: 'deploy.trigger', arguments: {}, annotations: {} } },
      ],
    });

    const everything = [...lines, ...collector.rawBodies].join('\n');
    expect(everything).not.toContain('4111111111111111');
    for (const t of tokensUsed) {
      expect(everything).not.toContain(t);
      expect(everything).not.toContain(t.split('.')[2]);
    }
  });

  it('logs only the arguments the catalog declares for the tool called: a misspelt tool loses them all, an undeclared one is erased', async () => {
    const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const CARD = '5500005555555559';
    const call = async (name: string, args: Record<string, unknown>) =>
      String((await app.post('/v1/decisions', { token: alice, server: 'demo', tool: { name, arguments: args } })).body.decision_id);
    const misspelt: string[] = [];
    for (const name of ['Refunds.create', 'refunds.create ', 'refund.create']) {
      misspelt.push(await call(name, { order_id: 'o-1', amount: 5, currency: 'USD', card_number: CARD }));
    }
    const undeclared = await call('refunds.create', { order_id: 'o-1', amount: 5, currency: 'USD', cardNumber: CARD });
    const ids = [...misspelt, undeclared];
    const events = await waitFor(async () => {
      const l = (await fileLines()).map((x) => JSON.parse(x) as Record<string, any>);
      const found = ids.map((id) => l.find((e) => e.decision_id === id));
      return found.every(Boolean) && (found as Record<string, any>[]);
    }, 10_000, 'file sink');
    for (const e of events.slice(0, 3)) {
      expect(e).toMatchObject({ outcome: { allow: false, code: 'policy_denied' }, erased: expect.arrayContaining(['/input/tool/arguments']) });
      expect(e.input.tool).not.toHaveProperty('arguments');
    }
    const u = events[3];
    expect(u.outcome).toMatchObject({ allow: false, code: 'policy_denied' });
    expect(u.erased).toEqual(['/input/tool/arguments/cardNumber']);
    // Declared, non-sensitive arguments stay visible.
    expect(u.input.tool.arguments).toEqual({ order_id: 'o-1', amount: 5, currency: 'USD' });
    await waitFor(() => ids.every((id) => collector.events.some((e) => e.decision_id === id)), 10_000, 'collector');
    expect([...(await fileLines()), ...collector.rawBodies].join('\n')).not.toContain(CARD);
  });

  it('the HTTP sink survives the collector being down and catches up', async () => {
    const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    collector.failWith = 503;
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(String((await refund(alice)).body.decision_id));
    await waitFor(() => collector.posts > 2, 10_000, 'retries');
    const port = collector.port;
    await collector.stop();
    for (let i = 0; i < 5; i++) during.push(String((await refund(alice)).body.decision_id));
    const http = await waitFor(async () => {
      const status = (await app.get('/v1/status')).body as { decision_logs: { name: string; buffered: number; last_error: string | null }[] };
      const h = status.decision_logs.find((s) => s.name === 'http');
      return h && h.buffered >= 10 && h;
    }, 10_000, 'http sink buffering');
    expect(http.last_error).not.toBeNull();
    collector.failWith = undefined;
    await collector.listen(port);
    await waitFor(() => during.every((id) => collector.events.some((e) => e.decision_id === id)), 15_000, 'catch-up');
    for (const id of during) expect(collector.events.filter((e) => e.decision_id === id)).toHaveLength(1);
  });

  describe('revocation', () => {
    it('the admin API rejects callers without the admin scope', async () => {
      const body = { kind: 'sub', value: 'x' };
      expect((await app.post('/v1/revocations', body)).status).toBe(401);
      expect((await app.post('/v1/revocations', body, { authorization: await admin('toolgate:read') })).status).toBe(403);
      const userToken = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'toolgate:admin' });
      expect((await app.post('/v1/revocations', body, { authorization: `Bearer ${userToken}` })).status).toBe(401);
      expect((await app.get('/v1/revocations')).status).toBe(401);
      const bad = await app.post('/v1/revocations', { kind: 'email', value: 'x' }, { authorization: await admin() });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('invalid_request');
    });

    it.each([
      ['jti', (t: Record<string, unknown>) => String(t.jti)],
      ['sub', (t: Record<string, unknown>) => String(t.sub)],
      ['client_id', (t: Record<string, unknown>) => String(t.client_id)],
    ])('by %s: effective on the next decision, even for a cached token, and undone by DELETE', async (kind, valueOf) => {
      const claims = { sub: `user-${kind}`, client_id: `client-${kind}`, jti: `jti-${kind}`, roles: ['support_agent'], scope: 'refunds:write' };
      const token = await sign(claims);
      expect((await refund(token)).body.allow).toBe(true);
      expect((await refund(token)).body.allow).toBe(true); // now cached
      const created = await app.post('/v1/revocations', { kind, value: valueOf(claims), reason: 'compromised' }, { authorization: await admin() });
      expect(created.status).toBe(201);
      const res = await refund(token);
      expect(res.body).toMatchObject({ allow: false, code: 'token_revoked', http_status: 401 });
      expect(String(res.body.www_authenticate)).toContain('error="invalid_token"');
      const listed = await app.get('/v1/revocations', { authorization: await admin() });
      expect((listed.body as { revocations: { id: string }[] }).revocations.map((r) => r.id)).toContain(created.body.id);
      const del = await fetch(`${app.url}/v1/revocations/${String(created.body.id)}`, { method: 'DELETE', headers: { authorization: await admin() } });
      expect(del.status).toBe(204);
      expect((await refund(token)).body.allow).toBe(true);
    });

    it('"every token of this subject issued before T" spares tokens issued after T', async () => {
      const now = Math.floor(Date.now() / 1000);
      const old = await sign({ sub: 'carol', roles: ['support_agent'], scope: 'refunds:write', iat: now - 60 });
      const fresh = await sign({ sub: 'carol', roles: ['support_agent'], scope: 'refunds:write', iat: now + 1 });
      await app.post('/v1/revocations', { kind: 'sub', value: 'carol', issued_before: now }, { authorization: await admin() });
      expect((await refund(old)).body.code).toBe('token_revoked');
      expect((await refund(fresh)).body.allow).toBe(true);
    });

    it('survives a restart and follows hand edits of the file', async () => {
      const dave = await sign({ sub: 'dave', jti: 'jti-dave', roles: ['support_agent'], scope: 'refunds:write' });
      await app.post('/v1/revocations', { kind: 'sub', value: 'dave' }, { authorization: await admin() });
      expect((await refund(dave)).body.code).toBe('token_revoked');
      await app.close();
      app = await startApp(config());
      expect((await refund(dave)).body.code).toBe('token_revoked');

      const erin = await sign({ sub: 'erin', jti: 'jti-erin', roles: ['support_agent'], scope: 'refunds:write' });
      expect((await refund(erin)).body.allow).toBe(true);
      const file = path.join(dir, 'revocations.json');
      const doc = JSON.parse(await readFile(file, 'utf8'));
      doc.revocations.push({ kind: 'jti', value: 'jti-erin', reason: 'added by hand' });
      await writeFile(file, JSON.stringify(doc, null, 2));
      await waitFor(async () => (await refund(erin)).body.code === 'token_revoked', 10_000, 'hand edit');
      // A broken hand edit keeps the rules in force.
      await writeFile(file, '{"revocations": [');
      const err = await waitFor(async () => ((await app.get('/v1/status')).body as { revocations: { last_error: string | null } }).revocations.last_error, 10_000, 'status error');
      expect(err).toMatch(/invalid/);
      expect((await refund(erin)).body.code).toBe('token_revoked');
    });
  });
});
