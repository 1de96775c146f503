/**
 * Reload latency: time from saving an edited policy data file to toolgate
 * answering with the new revision, over real files, real chokidar, the real
 * opa check/test/parity/build pipeline (test and parity gates on) and real HTTP. Prints p50/p95;
 * `--write` puts the table into BENCHMARKS.md between the reload markers.
 */
import 'reflect-metadata';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../bootstrap.js';
import { parseConfig } from '../config/load-config.js';
import { machine, report } from './report.js';

async function main(): Promise<void> {
  const root = process.cwd();
  const edits = Number(process.env.BENCH_EDITS ?? 20);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-reload-'));
  await cp(path.join(root, 'policies'), path.join(dir, 'policies'), { recursive: true });
  await cp(path.join(root, 'rego-tests'), path.join(dir, 'rego-tests'), { recursive: true });
  await writeFile(path.join(dir, 'jwks.json'), '{"keys": []}');
  const config = parseConfig({
    listen: { port: 0 },
    policy: { source: { policies: path.join(dir, 'policies'), tests: path.join(dir, 'rego-tests'), out: path.join(dir, 'build'), debounce_ms: 50 } },
    issuers: [{ issuer: 'https://bench.toolgate.test', jwks_file: path.join(dir, 'jwks.json') }],
    servers: [{ id: 'demo', resource: 'http://127.0.0.1:3000/mcp', issuers: ['https://bench.toolgate.test'] }],
  });
  const app = await createApp(config, { logger: ['error'] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/readyz`;
  const revision = async () => ((await (await fetch(url)).json()) as { revision?: string }).revision;
  const catalogPath = path.join(dir, 'policies/catalog/data.json');
  const catalog = JSON.parse(await readFile(catalogPath, 'utf8'));
  const samples: number[] = [];
  try {
    let current = await revision();
    for (let i = 0; i < edits + 1; i++) {
      catalog.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.finance = 4000 + ((i + 1) % 2) * 1000;
      const t0 = performance.now();
      await writeFile(catalogPath, JSON.stringify(catalog, null, 2));
      const deadline = t0 + 30_000;
      let next = current;
      while (next === current) {
        if (performance.now() > deadline) throw new Error(`edit ${i}: no new revision within 30 s`);
        await new Promise((r) => setTimeout(r, 5));
        next = await revision();
      }
      // The first edit warms caches (capabilities, page cache); it is not counted.
      if (i > 0) samples.push(performance.now() - t0);
      current = next;
    }
  } finally {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.ceil(p * samples.length) - 1)];
  const meta = `${machine()}, ${samples.length} edits of policies/catalog/data.json, debounce 50 ms, test and parity gates on, polled /readyz every 5 ms.`;
  const table = [
    '| save → new revision answering | p50 ms | p95 ms | min ms | max ms |',
    '|---|---:|---:|---:|---:|',
    `| reference policy, opa check + opa test + parity (tests through wasm) ∥ opa build -t wasm + load | ${q(0.5).toFixed(0)} | ${q(0.95).toFixed(0)} | ${samples[0].toFixed(0)} | ${samples[samples.length - 1].toFixed(0)} |`,
  ].join('\n');
  await report('reload', [meta, table].join('\n\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
