/**
 * What shadow evaluation (policy.shadow) costs over HTTP: toolgate with no
 * shadow, with a candidate at 10% and at 100% sampling. Each server is its own
 * process (one event loop) on prebuilt bundles; autocannon drives it from this
 * process. Variants alternate within each round; medians of the rounds and
 * their spread (min–max) are reported. `--write` puts the table into
 * BENCHMARKS.md between the shadow markers. Numbers, not assertions.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildPolicyBundle } from '../policy-compiler/policy-builder.js';
import { benchIssuer } from './issuer.js';
import { alternate, assertAllows, autocannonLoad, cpuSeconds, envNumber, Servers, spawnToolgate, stop, type Starter } from './load.js';
import { machine, median, report } from './report.js';

const DURATION = envNumber('BENCH_SECONDS', 3);
const ROUNDS = envNumber('BENCH_ROUNDS', 5);
const CONNECTIONS = 50;

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-shadow-bench-'));
  const servers = new Servers(18600);
  try {
    const issuer = 'https://bench.toolgate.test';
    const resource = 'http://127.0.0.1:3000/mcp';
    const bench = await benchIssuer(dir, issuer, resource);
    // The candidate differs from the active policy by one rule the benchmark call does not meet.
    await cp(path.join(root, 'policies'), path.join(dir, 'candidate'), { recursive: true });
    await writeFile(path.join(dir, 'candidate/mcp/authz/bench_change.rego'), 'package mcp.authz\n\n_base_denials contains "big refunds paused" if {\n\tinput.tool.name == "refunds.create"\n\tinput.tool.arguments.amount > 1000\n}\n');
    const active = await buildPolicyBundle({ policyDir: path.join(root, 'policies'), outDir: path.join(dir, 'a'), runTests: false, revision: 'active' });
    const candidate = await buildPolicyBundle({ policyDir: path.join(dir, 'candidate'), outDir: path.join(dir, 'c'), runTests: false, revision: 'candidate' });
    const body = JSON.stringify({ token: await bench.sign(), server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } } });
    const server =
      (rate?: number): Starter =>
      (port) =>
        spawnToolgate(root, dir, port, {
          policy: { mode: 'bundle', bundle: { path: active.bundlePath }, ...(rate === undefined ? {} : { shadow: { mode: 'bundle', bundle: { path: candidate.bundlePath }, sample_rate: rate } }) },
          issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
          servers: [{ id: 'demo', resource, issuers: [issuer] }],
          revocation: { file: path.join(dir, 'revocations.json') },
        });
    const variants = [
      { name: 'no shadow', start: server() },
      { name: 'shadow at 10%', start: server(0.1) },
      { name: 'shadow at 100%', start: server(1) },
    ];
    const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    const cpuPerRequest = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    await alternate(ROUNDS, variants, async (v) => {
      const { child, port } = await servers.start(v.start);
      const url = `http://127.0.0.1:${port}/v1/decisions`;
      await assertAllows(url, body, v.name);
      await autocannonLoad({ url, bodies: [body], seconds: 2, connections: CONNECTIONS }); // warm-up
      const cpu0 = cpuSeconds(child.pid!);
      const run = await autocannonLoad({ url, bodies: [body], seconds: DURATION, connections: CONNECTIONS });
      cpuPerRequest.get(v.name)!.push(((cpuSeconds(child.pid!) - cpu0) * 1e6) / run.total);
      results.get(v.name)!.push(run.failed > 0 ? NaN : run.rps);
      await stop(child);
    });
    const off = median(results.get('no shadow')!);
    const offCpu = median(cpuPerRequest.get('no shadow')!);
    const rows = variants.map((v) => {
      const rs = results.get(v.name)!;
      const cs = cpuPerRequest.get(v.name)!;
      const m = median(rs);
      const c = median(cs);
      const cost = v.name === 'no shadow' ? '—' : `${((1 - m / off) * 100).toFixed(1)}%`;
      const cpuCost = v.name === 'no shadow' ? '—' : `${((1 - offCpu / c) * 100).toFixed(1)}%`;
      return `| ${v.name} | ${m.toFixed(0)} | ${Math.min(...rs).toFixed(0)}–${Math.max(...rs).toFixed(0)} | ${cost} | ${c.toFixed(0)} | ${Math.min(...cs).toFixed(0)}–${Math.max(...cs).toFixed(0)} | ${cpuCost} |`;
    });
    const text = [
      `${machine()}, load average ${os.loadavg()[0].toFixed(1)} at the end. One toolgate process per variant (bundle mode, decision logs off), autocannon in this process, ${CONNECTIONS} connections, ${DURATION} s per run after a 2 s warm-up, ${ROUNDS} rounds with the variants alternating; an allowed refunds.create call with one cached token; the candidate evaluates every sampled call after the answer (setImmediate).`,
      '',
      '| variant | req/s (median) | spread (min–max) | throughput cost | server CPU µs/request (median) | spread | capacity cost (1 − CPU off ÷ CPU on) |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
    await report('shadow', text);
  } finally {
    await servers.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
