import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

// Issue #18 item 3: the reference catalog's "partners" server admits only listed clients,
// by id or, for an https client id (Client ID Metadata Document), by host. Tokens are
// real and valid; only the client they were issued to differs.
const RESOURCE = 'https://partners.example/mcp';

describe('input.client and the reference client allowlist', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-clients-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'partners', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['catalog:read'] }],
      decision_logs: { file: { path: path.join(dir, 'decisions.jsonl') } },
    });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const search = async (client: Record<string, unknown>) =>
    app.post('/v1/decisions', {
      token: await idp.sign({ aud: RESOURCE, sub: 'pat', roles: ['partner'], scope: 'catalog:read', ...client }),
      server: 'partners',
      tool: { name: 'catalog.search', arguments: { query: 'lamps' } },
    });
  const notListed = (id: string) => `client "${id}" is not on the client allowlist of server "partners"`;

  it.each([
    ['a listed metadata-document URL', { client_id: 'https://app.partner.example/oauth/client.json' }],
    ['a listed plain id, from azp', { azp: 'partner-cli' }],
    ['any metadata document on a listed host', { client_id: 'https://agents.trusted.example/bots/7.json' }],
    ['a listed host written in upper case', { client_id: 'HTTPS://Agents.Trusted.Example/bots/7.json' }],
  ])('admits %s', async (_what, client) => {
    expect((await search(client)).body).toMatchObject({ allow: true, reasons: [] });
  });

  it.each([
    ['another document on a listed id\'s host', 'https://app.partner.example/evil.json'],
    ['an http id on a listed host (http proves no domain)', 'http://agents.trusted.example/bots/7.json'],
    ['userinfo that looks like a listed host', 'https://agents.trusted.example@evil.example/c.json'],
    ['a host that only starts like a listed one', 'https://agents.trusted.example.evil.example/c.json'],
  ])('denies %s', async (_what, id) => {
    expect((await search({ client_id: id })).body).toMatchObject({ allow: false, code: 'policy_denied', reasons: [notListed(id)] });
  });

  it('denies a token that names no client', async () => {
    expect((await search({})).body).toMatchObject({ allow: false, reasons: ['the token names no client; server "partners" admits only the clients it lists'] });
  });

  it('shows the policy input.client: the id, and the host only for an https id', async () => {
    const https = await search({ client_id: 'https://agents.trusted.example/bots/7.json' });
    const plain = await search({ cid: 'partner-cli' });
    const events = await waitFor(async () => {
      const lines = (await readFile(path.join(dir, 'decisions.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      const all = lines.map((l) => JSON.parse(l) as { decision_id: string; input: { client?: unknown } });
      const pick = (id: unknown) => all.find((e) => e.decision_id === id);
      return pick(https.body.decision_id) && pick(plain.body.decision_id) && [pick(https.body.decision_id)!, pick(plain.body.decision_id)!];
    }, 10_000, 'both decisions in the log');
    expect(events[0].input.client).toEqual({ id: 'https://agents.trusted.example/bots/7.json', host: 'agents.trusted.example' });
    expect(events[1].input.client).toEqual({ id: 'partner-cli' });
  });
});
