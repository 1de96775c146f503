import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * A power loss cannot be staged here, so the system calls are watched instead:
 * strace records what a real RevocationService (the compiled one in dist/,
 * which `make test` builds) asks of the kernel when the admin API adds a rule.
 */
const hasStrace = spawnSync('strace', ['-V']).status === 0;

const SCRIPT = `
const [dist, file] = process.argv.slice(1);
const { RevocationService } = await import(dist + '/token/revocation.service.js');
const { parseConfig } = await import(dist + '/config/load-config.js');
const config = parseConfig({
  issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
  servers: [{ id: 'demo', resource: 'http://127.0.0.1:3999/mcp', issuers: ['https://idp.example'] }],
  revocation: { file },
});
await new RevocationService(config).add({ kind: 'sub', value: 'mallory' });
`;

(hasStrace ? describe : describe.skip)('the revocation file is durable before the admin API answers', () => {
  it('fsyncs the temp file before the rename and the directory after it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-fsync-'));
    try {
      const file = path.join(dir, 'store', 'revocations.json');
      const trace = path.join(dir, 'trace.txt');
      const dist = pathToFileURL(path.resolve('dist')).href;
      const run = spawnSync(
        'strace',
        ['-f', '-qq', '-y', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', '-o', trace, process.execPath, '--input-type=module', '-e', SCRIPT, dist, file],
        { encoding: 'utf8' },
      );
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
      expect(JSON.parse(await readFile(file, 'utf8')).revocations[0]).toMatchObject({ kind: 'sub', value: 'mallory' });

      const lines = (await readFile(trace, 'utf8')).split('\n');
      const tmpSync = lines.findIndex((l) => /\bf(data)?sync\(\d+<[^>]*revocations\.json\.[^>]*\.tmp>\) = 0/.test(l));
      const renamed = lines.findIndex((l) => /\brename(at2?)?\(.*revocations\.json\.[^"]*\.tmp", .*revocations\.json"/.test(l) && / = 0$/.test(l));
      const dirSync = lines.findIndex((l, i) => i > renamed && new RegExp(`\\bf(data)?sync\\(\\d+<${path.dirname(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>\\) = 0`).test(l));
      expect(tmpSync).toBeGreaterThanOrEqual(0);
      expect(renamed).toBeGreaterThan(tmpSync);
      expect(dirSync).toBeGreaterThan(renamed);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
