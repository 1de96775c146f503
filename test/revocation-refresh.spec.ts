import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import { RevocationService } from '../src/token/revocation.service.js';

/**
 * A cluster worker acknowledges a revocation only after RevocationService.refresh()
 * resolves; the primary answers the admin 201 only after every acknowledgement. So a
 * reload that did not happen must reject, never resolve.
 */
describe('RevocationService.refresh (what a worker acknowledges)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-refresh-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const service = (file: string) =>
    new RevocationService(
      parseConfig({
        issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
        servers: [{ id: 'demo', resource: 'http://127.0.0.1:3999/mcp', issuers: ['https://idp.example'] }],
        revocation: { file },
      }),
    );

  it('resolves after reading rules written by another process', async () => {
    const file = path.join(dir, 'revocations.json');
    const s = service(file);
    await writeFile(file, JSON.stringify({ version: 1, revocations: [{ id: 'r1', kind: 'sub', value: 'mallory', created_at: new Date().toISOString() }] }));
    await s.refresh();
    expect(s.list().map((r) => r.value)).toEqual(['mallory']);
  });

  it('rejects when the file cannot be read, keeping the rules in force', async () => {
    const file = path.join(dir, 'revocations.json');
    const s = service(file);
    await writeFile(file, JSON.stringify({ version: 1, revocations: [{ id: 'r1', kind: 'sub', value: 'mallory', created_at: new Date().toISOString() }] }));
    await s.refresh();
    await rm(file);
    await mkdir(file); // unreadable as a file
    await expect(s.refresh()).rejects.toMatchObject({ code: 'revocation_store_unavailable' });
    expect(s.list().map((r) => r.value)).toEqual(['mallory']);
  });

  it('rejects when the file turned invalid', async () => {
    const file = path.join(dir, 'revocations.json');
    const s = service(file);
    await writeFile(file, '{"version": 1, "revocations": [');
    await expect(s.refresh()).rejects.toMatchObject({ code: 'revocation_store_unavailable' });
  });
});
