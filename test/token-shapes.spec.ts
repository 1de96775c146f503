import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import { startDemoMcpServer, type DemoMcpServer } from '../src/demo/mcp-server.js';
import { HttpDecider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { TokenService } from '../src/token/token.service.js';
import { TokenVerifier } from '../src/token/token-verifier.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { freePort } from './support/net.js';
import { ROOT } from './support/policy-fixtures.js';
import { spellings } from './support/spellings.js';
import { waitFor } from './support/wait.js';

const ADMIN_AUD = 'https://toolgate.admin';
const CALLER_AUD = 'https://toolgate.internal';
const ARGS = { order_id: 'o-1', amount: 5, currency: 'USD' };
const ACCEPT = 'application/json, text/event-stream';
const now = () => Math.floor(Date.now() / 1000);

/**
 * Issue 24, items 6 and 8, through every entry point: the decision API (its
 * access, caller and admin tokens, and asserted claims), the TypeScript guard
 * over HTTP and with the embedded decider. Real tokens from a real JWKS on
 * loopback; the bundle-signature path is in bundles.spec.ts.
 */
describe('one spelling per token and one form per identity claim, at every entry point', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let resource: string;
  let embeddedResource: string;
  let caller: string;
  let gateway: string;
  let embedded: Awaited<ReturnType<typeof createEmbeddedDecider>>;
  const guards: Record<'http' | 'embedded', DemoMcpServer> = {} as never;

  const policy = (out: string) => ({ source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, out), test_gate: false, watch: false } });
  const issuers = () => [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }];
  const userToken = (claims: Record<string, unknown> = {}, aud = resource) =>
    idp.sign({ aud, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', exp: now() + 600, ...claims });
  const adminToken = (claims: Record<string, unknown> = {}) => idp.sign({ sub: 'ops-root', aud: ADMIN_AUD, scope: 'toolgate:admin', exp: now() + 600, ...claims });
  const decide = (token: string, authorization = caller) => app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: ARGS } }, { authorization });
  const cacheSize = () => app.app.get(TokenService).verifier.cacheSize;
  const revoke = async (body: Record<string, unknown>) => {
    const res = await app.post('/v1/revocations', body, { authorization: `Bearer ${await adminToken()}` });
    expect(res.status).toBe(201);
    return String(res.body.id);
  };
  const unrevoke = async (id: string) =>
    expect((await fetch(`${app.url}/v1/revocations/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await adminToken()}` } })).status).toBe(204);
  /** One tools/call through a guard, as a raw POST: the header carries the token exactly as given. */
  const guarded = async (mode: 'http' | 'embedded', token: string, id = 1) => {
    const res = await fetch(guards[mode].url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'refunds.create', arguments: ARGS } }),
    });
    const text = await res.text();
    return { status: res.status, challenge: res.headers.get('www-authenticate'), json: (text ? JSON.parse(text) : {}) as { result?: { isError?: boolean }; error?: { data?: { code?: string } } } };
  };

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-shapes-'));
    const [httpPort, embeddedPort] = [await freePort(), await freePort()];
    resource = `http://127.0.0.1:${httpPort}/mcp`;
    embeddedResource = `http://127.0.0.1:${embeddedPort}/mcp`;
    app = await startApp({
      policy: policy('build'),
      issuers: issuers(),
      servers: [{ id: 'demo', resource, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      decision_logs: { file: { path: path.join(dir, 'decisions.jsonl') } },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
      callers: { auth: 'jwt', issuer: idp.issuer, audience: CALLER_AUD, scope: 'toolgate:decide' },
    });
    caller = `Bearer ${await idp.sign({ sub: 'mcp-server', client_id: 'mcp-demo', aud: CALLER_AUD, scope: 'toolgate:decide', exp: now() + 600 })}`;
    gateway = `Bearer ${await idp.sign({ sub: 'envoy', client_id: 'envoy-client', aud: CALLER_AUD, scope: 'toolgate:decide toolgate:claims', exp: now() + 600 })}`;
    embedded = await createEmbeddedDecider(
      parseConfig({
        listen: { host: '127.0.0.1', port: 0 },
        policy: policy('build-embedded'),
        issuers: issuers(),
        servers: [{ id: 'demo', resource: embeddedResource, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
        revocation: { file: path.join(dir, 'revocations-embedded.json') },
      }),
    );
    const callerToken = caller.slice('Bearer '.length);
    guards.http = await startDemoMcpServer({ decider: new HttpDecider(app.url, { callerToken: () => callerToken }), serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port: httpPort });
    guards.embedded = await startDemoMcpServer({ decider: embedded, serverId: 'demo', metadata: { resource: embeddedResource, authorization_servers: [idp.issuer] }, port: embeddedPort });
  });

  afterAll(async () => {
    await guards.http?.close();
    await guards.embedded?.close();
    await embedded?.close?.();
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('item 6: a non-canonical base64url spelling of a valid token is refused (token_malformed)', () => {
    it('TokenVerifier: every spelling of every segment is refused, naming it; one cache entry, one fingerprint', async () => {
      const config = parseConfig({ issuers: issuers(), servers: [{ id: 'demo', resource, issuers: [idp.issuer] }] });
      const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 100 });
      const server = config.servers[0];
      // A header and a payload of 3n+1 bytes, so every segment has unused bits and takes padding.
      let token = '';
      for (let h = 0; h < 3 && !token; h++) {
        for (let p = 0; p < 3 && !token; p++) {
          const t = await idp.sign({ aud: resource, sub: 'alice', pad: 'x'.repeat(p) }, { header: { x: 'y'.repeat(h) } });
          if (t.split('.').every((s) => s.length % 4 === 2)) token = t;
        }
      }
      expect(token).not.toBe('');
      const canonical = await verifier.verify(token, server);
      const variants = spellings(token);
      expect(variants.map((v) => v.name)).toEqual(
        ['signature', 'header', 'payload'].flatMap((s) => [`${s}: a space inside`, `${s}: a tab inside`, `${s}: = padding`, `${s}: an unused bit set in the last character`]),
      );
      for (const v of variants) {
        await expect(verifier.verify(v.jws, server)).rejects.toMatchObject({ code: 'token_malformed', message: expect.stringContaining(`the token's ${v.segment} is not canonical base64url (RFC 7515): it `) });
      }
      expect(verifier.cacheSize).toBe(1);
      expect((await verifier.verify(token, server)).fingerprint).toBe(canonical.fingerprint);
      expect(verifier.cacheSize).toBe(1);
    });

    it('the decision API: an access token spelled otherwise is token_malformed and is never cached', async () => {
      const token = await userToken();
      expect((await decide(token)).body).toMatchObject({ allow: true });
      const cached = cacheSize();
      const signatureOnly = spellings(token).filter((v) => v.segment === 'signature');
      expect(signatureOnly.length).toBe(4); // ES256: 64 bytes, 86 characters with 4 unused bits
      for (const v of spellings(token)) {
        const res = await decide(v.jws);
        expect([v.name, res.body]).toEqual([v.name, expect.objectContaining({ allow: false, code: 'token_malformed', http_status: 401 })]);
        expect(res.body.reasons).toEqual([expect.stringMatching(new RegExp(`^the token's ${v.segment} is not canonical base64url \\(RFC 7515\\): it `))]);
      }
      expect(cacheSize()).toBe(cached);
      expect((await decide(token)).body).toMatchObject({ allow: true });
      expect((await decide(`Bearer ${token}`)).body).toMatchObject({ allow: true });
    });

    it('caller and admin tokens spelled otherwise are refused (401 caller_unauthenticated naming token_malformed)', async () => {
      const user = await userToken();
      for (const v of spellings(caller.slice('Bearer '.length))) {
        const res = await decide(user, `Bearer ${v.jws}`);
        expect([v.name, res.status, res.body.code]).toEqual([v.name, 401, 'caller_unauthenticated']);
        expect(res.body.message).toBe("the caller's token was rejected: token_malformed");
      }
      expect((await decide(user)).body).toMatchObject({ allow: true });
      const admin = await adminToken();
      for (const v of spellings(admin)) {
        const res = await app.get('/v1/revocations', { authorization: `Bearer ${v.jws}` });
        expect([v.name, res.status, (res.body as { message: string }).message]).toEqual([v.name, 401, 'the admin token was rejected: token_malformed']);
      }
      expect((await app.get('/v1/revocations', { authorization: `Bearer ${admin}` })).status).toBe(200);
    });

    it.each(['http', 'embedded'] as const)('the TypeScript guard (%s decider): 401 token_malformed, and the handler never runs', async (mode) => {
      const token = await userToken({}, mode === 'http' ? resource : embeddedResource);
      const ok = await guarded(mode, token);
      expect(ok.status).toBe(200);
      expect(ok.json.result?.isError).toBeFalsy();
      const ran = guards[mode].invocations.length;
      for (const v of spellings(token)) {
        const res = await guarded(mode, v.jws);
        expect([v.name, res.status, res.json.error?.data?.code]).toEqual([v.name, 401, 'token_malformed']);
        expect(res.challenge).toContain('error="invalid_token"');
      }
      expect(guards[mode].invocations.length).toBe(ran);
      expect((await guarded(mode, token)).status).toBe(200);
    });
  });

  describe('item 8: identity claims that are not strings are refused, so a revocation always matches', () => {
    // Each rule is added before the token is presented; on the old code the decision was still allowed.
    it.each([
      ['a numeric jti', { jti: 42 }, { kind: 'jti', value: '42' }, 'jti', 'number'],
      ['an array client_id', { client_id: ['rogue-app'] }, { kind: 'client_id', value: 'rogue-app' }, 'client_id', 'an array'],
      ['a numeric sub', { sub: 1001 }, { kind: 'sub', value: '1001' }, 'sub', 'number'],
      ['an object azp', { azp: { id: 'rogue-azp' } }, { kind: 'client_id', value: 'rogue-azp' }, 'azp', 'object'],
      ['an array cid', { cid: ['rogue-cid'] }, { kind: 'client_id', value: 'rogue-cid' }, 'cid', 'an array'],
      ['a numeric appid', { appid: 7 }, { kind: 'client_id', value: '7' }, 'appid', 'number'],
    ])('%s: revoke → the next decision is refused (token_malformed), on the API and both guards', async (_name, claims, rule, claim, shape) => {
      const id = await revoke(rule);
      await embedded.revocations.add(rule as { kind: 'jti' | 'sub' | 'client_id'; value: string });
      const message = `the token's "${claim}" claim is not a string (${shape}); identity claims must be strings so revocation can match them`;
      const res = await decide(await userToken(claims));
      expect(res.body).toMatchObject({ allow: false, code: 'token_malformed', http_status: 401, reasons: [message] });
      for (const mode of ['http', 'embedded'] as const) {
        const g = await guarded(mode, await userToken(claims, mode === 'http' ? resource : embeddedResource));
        expect([mode, g.status, g.json.error?.data?.code]).toEqual([mode, 401, 'token_malformed']);
      }
      await unrevoke(id);
    });

    it('a caller or admin token with a non-string identity claim is refused', async () => {
      const user = await userToken();
      const res = await decide(user, `Bearer ${await idp.sign({ sub: 'mcp-server', jti: 99 as unknown as string, aud: CALLER_AUD, scope: 'toolgate:decide', exp: now() + 600 })}`);
      expect([res.status, res.body.message]).toEqual([401, "the caller's token was rejected: token_malformed"]);
      const admin = await app.get('/v1/revocations', { authorization: `Bearer ${await adminToken({ client_id: ['ops'] })}` });
      expect([admin.status, (admin.body as { message: string }).message]).toEqual([401, 'the admin token was rejected: token_malformed']);
    });

    it('asserted claims with a non-string jti, sub or client claim are refused the same way, and logged as refused', async () => {
      const asserted = (extra: Record<string, unknown>) => ({
        iss: idp.issuer, aud: resource, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', jti: crypto.randomUUID(), iat: now(), exp: now() + 600, ...extra,
      });
      const ok = await app.post('/v1/decisions', { claims: asserted({}), server: 'demo', tool: { name: 'refunds.create', arguments: ARGS } }, { authorization: gateway });
      expect(ok.body).toMatchObject({ allow: true });
      const id = await revoke({ kind: 'jti', value: '42' });
      for (const [claim, value] of [['jti', 42], ['sub', 1001], ['client_id', ['rogue-app']], ['azp', null]] as const) {
        const res = await app.post('/v1/decisions', { claims: asserted({ [claim]: value }), server: 'demo', tool: { name: 'refunds.create', arguments: ARGS } }, { authorization: gateway });
        expect([claim, res.body.code, res.body.reasons]).toEqual([claim, 'token_malformed', [expect.stringContaining(`the claims' "${claim}" claim is not a string`)]]);
        if (claim === 'jti') {
          const event = await waitFor(async () => {
            const lines = (await readFile(path.join(dir, 'decisions.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
            return lines.map((l) => JSON.parse(l) as { decision_id: string; outcome: { code?: string } }).find((e) => e.decision_id === res.body.decision_id);
          }, 10_000, 'the refusal in the decision log');
          expect(event.outcome.code).toBe('token_malformed');
        }
      }
      await unrevoke(id);
    });
  });
});
