import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './support/policy-fixtures.js';

/** `make postgres` with TOOLGATE_PG_BIN set (nothing else of the Makefile runs). */
function makePostgres(pgBin: string): { status: number | null; stderr: string } {
  const r = spawnSync('make', ['-s', '--no-print-directory', 'postgres'], { cwd: ROOT, env: { ...process.env, TOOLGATE_PG_BIN: pgBin }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('make postgres honours TOOLGATE_PG_BIN, as the tests do (src/bench/pg-cluster.ts)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-pgbin-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails, naming the variable, when TOOLGATE_PG_BIN has no postgres (Debian packages would not land there)', () => {
    const r = makePostgres(path.join(dir, 'missing'));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`TOOLGATE_PG_BIN=${path.join(dir, 'missing')} has no executable postgres`);
  });

  it('accepts the binaries TOOLGATE_PG_BIN names', async () => {
    await writeFile(path.join(dir, 'postgres'), '#!/bin/sh\nexit 0\n');
    await chmod(path.join(dir, 'postgres'), 0o755);
    expect(makePostgres(dir)).toEqual({ status: 0, stderr: '' });
  });
});
