/**
 * Soak: toolgate (one process, decision logs to a file) at half of its measured
 * peak for SOAK_SECONDS (default 300) over loopback; reports RSS at start and
 * end, throughput, latency and errors. `--write` fills the soak markers of
 * BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { machine, report, waitReady } from './report.js';
import { benchIssuer } from './issuer.js';

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, r) => (err ? reject(err) : resolve(r))));
}

async function main(): Promise<void> {
  const root = process.cwd();
  const seconds = Number(process.env.SOAK_SECONDS ?? 300);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-soak-'));
  const issuer = 'https://bench.toolgate.test';
  const resource = 'http://127.0.0.1:3000/mcp';
  const port = 18377;
  const tokens = await benchIssuer(dir, issuer, resource);
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      policy: { source: { policies: path.join(root, 'policies'), tests: path.join(root, 'rego-tests'), out: path.join(dir, 'build'), watch: false } },
      issuers: [{ issuer, jwks_file: tokens.jwksFile, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [issuer] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      decision_logs: { file: { path: path.join(dir, 'decisions.jsonl'), max_bytes: 64 * 1024 * 1024, max_files: 2 } },
    }),
  );
  // 1,000 users' tokens, so the token cache and the logs see realistic variety.
  const bodies: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const token = await tokens.sign({ sub: `user-${i}` });
    bodies.push(JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 50, currency: 'USD' } } }));
  }
  const child = spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', path.join(dir, 'config.json')], { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/v1/decisions`;
    await waitReady(`http://127.0.0.1:${port}/readyz`, child);
    let n = 0;
    const requests: autocannon.Request[] = [
      {
        setupRequest: (req) => {
          req.body = bodies[n++ % bodies.length];
          return req;
        },
      },
    ];
    const base = { url, method: 'POST' as const, headers: { 'content-type': 'application/json' }, connections: 20, requests };
    const peak = await run({ ...base, duration: 10 });
    const rate = Math.floor(peak.requests.average / 2);
    const rssStart = await rssMiB(child.pid!);
    const soak = await run({ ...base, duration: seconds, overallRate: rate });
    const rssEnd = await rssMiB(child.pid!);
    const errors = soak.errors + soak.timeouts + soak.non2xx;
    const meta = `${machine()}. toolgate in one process with decision logs to a file; 1,000 distinct users' tokens; peak measured for 10 s, then ${seconds} s at half of it with autocannon (20 connections) on loopback.`;
    const table = [
      '| peak req/s | soak rate req/s | requests | errors + non-2xx | p50 ms | p99 ms | RSS start MiB | RSS end MiB | RSS growth |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${peak.requests.average.toFixed(0)} | ${rate} | ${soak.requests.total} | ${errors} | ${soak.latency.p50} | ${soak.latency.p99} | ${rssStart.toFixed(1)} | ${rssEnd.toFixed(1)} | ${(((rssEnd - rssStart) / rssStart) * 100).toFixed(1)}% |`,
    ].join('\n');
    await report('soak', [meta, table].join('\n\n'));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
