import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expandLogPaths } from '../src/replay/log-files.js';

describe('replay: which files a log directory holds', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-logs-'));
    // A workers deployment writes one file per worker slot (<path>.w<N>), each rotated on its own.
    for (const f of ['decisions.jsonl', 'decisions.jsonl.1', 'decisions.jsonl.w0', 'decisions.jsonl.w0.1', 'decisions.jsonl.w1.2.gz', 'notes.txt']) {
      await writeFile(path.join(dir, f), '');
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds the single-process files and every worker file, rotated and gzipped ones included', async () => {
    const names = (await expandLogPaths([dir])).map((f) => path.basename(f)).sort();
    expect(names).toEqual(['decisions.jsonl', 'decisions.jsonl.1', 'decisions.jsonl.w0', 'decisions.jsonl.w0.1', 'decisions.jsonl.w1.2.gz']);
  });
});
