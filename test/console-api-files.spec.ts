import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { FileDecisionSource } from '../src/console-api/decision-files.js';
import { parseDecisionFilter } from '../src/console-api/decision-query.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

describe('console API: shadow outcomes and the file source across workers and rotations', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  const ids: string[] = [];
  let lines: string[] = [];

  const read = async (p: string) => app.get(p, { authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:read' })}` });
  const source = () => ({ policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false });

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-files-'));
    app = await startApp({
      // The same policy as a shadow candidate: every sampled decision has a shadow outcome, `same`.
      policy: { source: source(), shadow: { mode: 'source', source: { ...source(), out: path.join(dir, 'shadow-build') }, sample_rate: 1 } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      decision_logs: { file: { path: path.join(dir, 'logs/decisions.jsonl') } },
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
    });
    await waitFor(async () => ((await app.get('/v1/status')).body as Json).shadow?.candidate, 30_000, 'shadow candidate');
    for (let i = 0; i < 6; i++) {
      const token = await idp.sign({ aud: RESOURCE, sub: `user-${i}`, roles: ['support_agent'], scope: 'refunds:write' });
      ids.push(String((await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 10 * (i + 1), currency: 'USD' } } })).body.decision_id));
    }
    lines = await waitFor(async () => {
      const l = (await readFile(path.join(dir, 'logs/decisions.jsonl'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      return ids.every((id) => l.some((x) => x.includes(id))) && l;
    }, 15_000, 'file sink');
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('links a decision to its shadow outcome and reports shadow status', async () => {
    const r = (await read(`/v1/admin/decisions/${ids[0]}`)).body as Json;
    expect(r.shadow).toMatchObject({ result: 'same', allow: true, content_hash: expect.stringMatching(/^sha256:/) });
    expect(r.event.shadow).toEqual(r.shadow);
    const rows = ((await read('/v1/admin/decisions?limit=200')).body as Json).decisions as Json[];
    expect(rows.filter((d) => ids.includes(d.decision_id)).every((d) => d.shadow === 'same')).toBe(true);
    const shadow = (await read('/v1/admin/shadow')).body as Json;
    expect(shadow).toMatchObject({ enabled: true, sample_rate: 1, counts: { same: 6 }, candidate: { content_hash: r.shadow.content_hash } });
    expect(((await read('/v1/admin/overview')).body as Json).shadow).toMatchObject({ counts: { same: 6 } });
  });

  it("reads every worker's file and rotation, newest first, skips gzip and junk, and says when it stopped early", async () => {
    const logs = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-logs-'));
    try {
      const base = path.join(logs, 'decisions.jsonl');
      // Real recorded events spread as two workers would write them: w0 holds 0, 2, 4; w1 (rotated once) 1, 3, 5.
      const ev = ids.map((id) => lines.find((l) => l.includes(id))!);
      await writeFile(`${base}.w0`, [ev[0], ev[2], ev[4]].join('\n') + '\n');
      await writeFile(`${base}.w1.1`, ev[1] + '\n');
      await writeFile(`${base}.w1`, [ev[3], '{not json', ev[5]].join('\n') + '\n');
      await writeFile(`${base}.w1.2`, gzipSync(Buffer.from(ev[0] + '\n')));
      await writeFile(path.join(logs, 'other.jsonl'), ev[0] + '\n');

      const all = await new FileDecisionSource(base).search(parseDecisionFilter({ limit: '200' }));
      expect(all.truncated).toBe(false);
      expect(all.decisions.map((d) => d.decision_id)).toEqual([...ids].reverse());
      expect(all.scanned).toBe(6);
      expect(await new FileDecisionSource(base).get(ids[1])).toMatchObject({ decision_id: ids[1] });

      // A budget smaller than the logs: only the tail is searched, and the answer says so.
      const small = await new FileDecisionSource(base, ev[3].length + ev[5].length + 20).search(parseDecisionFilter({}));
      expect(small.truncated).toBe(true);
      expect(small.decisions.length).toBeLessThan(6);
      expect(small.decisions.length).toBeGreaterThan(0);
    } finally {
      await rm(logs, { recursive: true, force: true });
    }
  });
});
