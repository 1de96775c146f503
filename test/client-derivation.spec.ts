import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DecisionEvent } from '../src/audit/decision-event.js';
import { summarize } from '../src/console-api/decision-query.js';
import { callerOf } from '../src/privileges/events.js';
import type { RecordedEvaluation } from '../src/replay/replay-inputs.js';
import { clientIdOf, clientOf } from '../src/token/client-id.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';
const CALLER_AUD = 'https://toolgate.internal';

type Json = Record<string, any>;

/**
 * Every claim shape a token may name its client with, and the one client id
 * toolgate derives from it: the first non-empty string of client_id, azp,
 * cid, appid. `undefined`: the token names no client.
 */
const SHAPES: { note: string; claims: Record<string, unknown>; client: string | undefined; strings: boolean }[] = [
  { note: 'RFC 9068 client_id', claims: { client_id: 'rfc-client' }, client: 'rfc-client', strings: true },
  { note: 'OpenID azp', claims: { azp: 'oidc-client' }, client: 'oidc-client', strings: true },
  { note: 'Okta cid', claims: { cid: '0oa-okta-app' }, client: '0oa-okta-app', strings: true },
  { note: 'Entra ID appid', claims: { appid: '11111111-entra-app' }, client: '11111111-entra-app', strings: true },
  { note: 'client_id wins over azp', claims: { client_id: 'first', azp: 'second' }, client: 'first', strings: true },
  { note: 'empty client_id and azp skipped', claims: { client_id: '', azp: '', cid: 'okta-after-empty' }, client: 'okta-after-empty', strings: true },
  { note: 'empty client_id, azp next', claims: { client_id: '', azp: 'azp-after-empty' }, client: 'azp-after-empty', strings: true },
  { note: 'only empty strings', claims: { client_id: '', azp: '', cid: '', appid: '' }, client: undefined, strings: true },
  { note: 'no client claim', claims: {}, client: undefined, strings: true },
  { note: 'non-strings skipped', claims: { client_id: 42, azp: ['x'], cid: { id: 'y' }, appid: 'entra-after-non-strings' }, client: 'entra-after-non-strings', strings: false },
  { note: 'only non-strings', claims: { client_id: 7, azp: true, cid: null }, client: undefined, strings: false },
];

describe('one client derivation: pure consumers', () => {
  it.each(SHAPES)('$note: clientIdOf, the policy input, the console row and privileges agree', ({ claims, client }) => {
    expect(clientIdOf(claims)).toBe(client);
    expect(clientOf(claims)?.id).toBe(client);
    // An event as the decision log wrote it before the log used the one derivation: only the claims name the client.
    const event = { decision_id: 'd', timestamp: new Date().toISOString(), kind: 'decision', input: { claims }, outcome: { allow: true }, token: {} } as unknown as DecisionEvent;
    expect(summarize(event).client_id).toBe(client ?? null);
    expect(callerOf({ input: { claims } } as unknown as RecordedEvaluation, event).client).toBe(client);
  });
});

describe('one client derivation: policy input, decision log, console, revocation, Caller and admin guards', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let dir: string;
  let app: RunningApp;
  const exp = () => Math.floor(Date.now() / 1000) + 600;
  const adminAuth = async (claims: Record<string, unknown>) => `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:admin', exp: exp(), ...claims })}`;
  const callerAuth = async (claims: Record<string, unknown>) => `Bearer ${await idp.sign({ sub: 'mcp-server', aud: CALLER_AUD, scope: 'toolgate:decide', exp: exp(), ...claims })}`;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-client-'));
    app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['invoices:read'] }],
      callers: { auth: 'jwt', issuer: idp.issuer, audience: CALLER_AUD, scope: 'toolgate:decide' },
      decision_logs: { file: { path: path.join(dir, 'decisions.jsonl') } },
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
    });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  // Rows with non-string claims stay out of the HTTP table: whether verification accepts them is issue 24 item 8's decision.
  it.each(SHAPES.filter((s) => s.strings))('$note', async ({ note, claims, client }) => {
    const sub = `user-${note.replace(/\W+/g, '-')}`;
    const admin = await adminAuth({});
    const token = await idp.sign({ aud: RESOURCE, sub, roles: ['finance'], scope: 'invoices:read', exp: exp(), ...claims });
    const caller = await callerAuth(claims);
    const call = (authorization = caller) => app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'inv-1' } } }, { authorization });

    const first = await call();
    expect(first.body).toMatchObject({ allow: true });
    const id = String(first.body.decision_id);
    const recorded = await waitFor(async () => {
      const r = await app.get(`/v1/admin/decisions/${id}`, { authorization: admin });
      return r.status === 200 ? (r.body as Json).event : undefined;
    }, 10_000, `decision ${id} in the admin API`);
    // The policy input, the log's token summary and the Caller (requested_by) name the same client.
    expect(recorded.input.client?.id).toBe(client);
    expect(recorded.token.client_id).toBe(client);
    expect(recorded.requested_by).toBe(client ? `mcp-server (client ${client})` : 'mcp-server');
    // The console's list row (its client column and "revoke this client" link read it).
    const rows = (await app.get(`/v1/admin/decisions?subject=${sub}`, { authorization: admin })).body as Json;
    expect(rows.decisions.find((d: Json) => d.decision_id === id)?.client_id).toBe(client ?? null);
    // Privileges read the recorded event.
    expect(callerOf({ input: recorded.input } as RecordedEvaluation, recorded as DecisionEvent).client).toBe(client);
    // The admin guard's caller.
    const who = (await app.get('/v1/admin/whoami', { authorization: await adminAuth(claims) })).body as Json;
    expect(who.client_id).toBe(client);

    if (client) {
      // Revoking the client the console shows revokes the token (and the caller's token, which names the same client).
      const revoked = await app.post('/v1/revocations', { kind: 'client_id', value: client, reason: note }, { authorization: admin });
      expect(revoked.status).toBe(201);
      const plainCaller = await callerAuth({});
      const after = await waitFor(async () => {
        const r = await call(plainCaller);
        return r.body.allow === false ? r : undefined;
      }, 5_000, 'the revocation to apply');
      expect(after.body).toMatchObject({ allow: false, code: 'token_revoked' });
      expect((await call()).status).toBe(401);
    }
  });
});
