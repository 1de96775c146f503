/**
 * Shared state across replicas, on a real PostgreSQL started here:
 * 1. revocation propagation: three toolgate processes; a revocation made
 *    through one (round-robin) is polled for on the other two, back to back,
 *    until they deny; the time from sending the admin call to each denial.
 * 2. the Postgres decision-log sink's cost: one toolgate with no decision log
 *    and one with the Postgres sink, loaded alternately with autocannon;
 *    throughput per round, the cost as the median of per-round ratios.
 * `--write` puts the result into BENCHMARKS.md between the replicas markers.
 * Usage: node dist/bench/replicas.js [--write]  (BENCH_SECONDS, BENCH_ROUNDS)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { benchIssuer } from './issuer.js';
import { PgCluster } from './pg-cluster.js';
import { machine, median, percentile, report, waitReady } from './report.js';

const REVOCATIONS = Number(process.env.BENCH_REVOCATIONS ?? 60);
const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5));
const CONNECTIONS = 32;

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

function rps(url: string, body: string): Promise<{ rps: number; non2xx: number }> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: DURATION },
      (err, r) => (err ? reject(err) : resolve({ rps: r.requests.average, non2xx: r.non2xx })),
    );
  });
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

/** CPU seconds a process (all its threads) has used, from /proc (Linux, 100 ticks a second). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-replica-bench-'));
  const issuer = 'https://bench.toolgate.test';
  const resource = 'http://127.0.0.1:3000/mcp';
  const adminAud = 'https://toolgate.admin';
  const children: ChildProcess[] = [];
  const db = await PgCluster.create();
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    let port = 19_300 + Math.floor(Math.random() * 500);
    const pids = new Map<string, number>();
    const start = async (name: string, extra: Record<string, unknown>): Promise<string> => {
      const p = port++;
      const cfg = {
        listen: { host: '127.0.0.1', port: p },
        instance_id: name,
        policy: { source: { policies: path.join(root, 'policies'), tests: path.join(root, 'rego-tests'), out: path.join(dir, `build-${name}`), watch: false, test_gate: false } },
        issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [issuer] }],
        admin: { issuer, audience: adminAud, scope: 'toolgate:admin' },
        ...extra,
      };
      const file = path.join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify(cfg));
      const child = spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      await waitReady(`http://127.0.0.1:${p}/readyz`, child);
      pids.set(`http://127.0.0.1:${p}`, child.pid!);
      return `http://127.0.0.1:${p}`;
    };
    const body = (token: string) => JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } } });
    const decide = async (url: string, token: string) =>
      (await (await fetch(`${url}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(token) })).json()) as { code?: string };

    // 1. Propagation.
    const revocation = { postgres: { url: db.url, resync_interval_s: 30 } };
    const urls: string[] = [];
    for (const n of ['a', 'b', 'c']) urls.push(await start(`replica-${n}`, { revocation }));
    const admin = `Bearer ${await bench.sign({ sub: 'ops', aud: adminAud, scope: 'toolgate:admin' })}`;
    const seen: number[] = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      const token = await bench.sign({ sub: `user-${i}` });
      const [via, ...others] = [urls[i % 3], ...urls.filter((_, j) => j !== i % 3)];
      const t0 = performance.now();
      const res = await fetch(`${via}/v1/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: admin }, body: JSON.stringify({ kind: 'sub', value: `user-${i}` }) });
      if (res.status !== 201) throw new Error(`revocation answered ${res.status}`);
      await Promise.all(
        others.map(async (u) => {
          while ((await decide(u, token)).code !== 'token_revoked') {
            if (performance.now() - t0 > 10_000) throw new Error(`${u} never denied user-${i}`);
          }
          seen.push(performance.now() - t0);
        }),
      );
    }
    await Promise.all(children.splice(0).map(stop));

    // 2. Decision-log sink cost: no decision log, the file sink (the embedded default), the Postgres sink.
    const variants = [
      { id: 'none', url: await start('no-log', {}) },
      { id: 'file', url: await start('file-log', { decision_logs: { file: { path: path.join(dir, 'decisions.jsonl'), max_bytes: 1024 * 1024 * 1024 } } }) },
      { id: 'pg', url: await start('pg-log', { decision_logs: { postgres: { url: db.url } } }) },
    ] as const;
    const hot = body(await bench.sign({ jti: 'hot' }));
    type Id = (typeof variants)[number]['id'];
    /** One variant under load: throughput, and CPU µs per decision of toolgate and of PostgreSQL. */
    interface Sample {
      rps: number;
      cpu: number;
      pg: number;
    }
    const measure = async (url: string): Promise<Sample> => {
      const [c0, p0] = [await cpuSeconds(pids.get(url)!), await db.cpuSeconds()];
      const r = await rps(`${url}/v1/decisions`, hot);
      // Let the sinks write what they buffered, so their work is counted in this round.
      await new Promise((res) => setTimeout(res, 1500));
      const [c1, p1] = [await cpuSeconds(pids.get(url)!), await db.cpuSeconds()];
      if (r.non2xx) throw new Error('non-2xx answers under load');
      const n = r.rps * DURATION;
      return { rps: r.rps, cpu: ((c1 - c0) * 1e6) / n, pg: ((p1 - p0) * 1e6) / n };
    };
    // Warm-up, not counted: JIT, the first partition, the pool's connections.
    for (const v of variants) await measure(v.url);
    const rounds: Record<Id, Sample>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // The order rotates, so drift of the machine over time favours no variant.
      const round: Partial<Record<Id, Sample>> = {};
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(r + k) % variants.length];
        round[v.id] = await measure(v.url);
      }
      rounds.push(round as Record<Id, Sample>);
    }
    const status = (await (await fetch(`${variants[2].url}/v1/status`)).json()) as { decision_logs: { name: string; written: number; dropped: number }[] };
    const rows = await db.query<{ n: string }>("SELECT count(*) AS n FROM toolgate_decision_logs WHERE instance_id = 'pg-log'");
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);
    const col = (f: (x: Record<Id, Sample>) => number) => rounds.map(f);
    const tputCost = col((x) => 1 - x.pg.rps / x.none.rps);
    const tputVsFile = col((x) => 1 - x.pg.rps / x.file.rps);
    const cpuCost = col((x) => (x.pg.cpu - x.none.cpu) / x.none.cpu);
    const cpuVsFile = col((x) => (x.pg.cpu - x.file.cpu) / x.file.cpu);
    const sink = status.decision_logs.find((x) => x.name === 'postgres');
    const line = (label: string, f: (xs: number[]) => number) =>
      `| ${label} | ${[col((x) => x.none.rps), col((x) => x.file.rps), col((x) => x.pg.rps)].map((xs) => f(xs).toFixed(0)).join(' | ')} | ` +
      `${[col((x) => x.none.cpu), col((x) => x.file.cpu), col((x) => x.pg.cpu), col((x) => x.pg.pg)].map((xs) => f(xs).toFixed(0)).join(' | ')} |`;

    await report(
      'replicas',
      [
        `Method: ${machine()}; PostgreSQL 15 on loopback (a cluster of its own, default settings), sharing the two cores with toolgate and the load generator.`,
        '',
        `**Revocation propagation** (${REVOCATIONS} revocations through replicas A, B, C in turn; time from sending the admin call to a denial on each other replica, polled back to back over HTTP; ${seen.length} samples): ` +
          `p50 ${ms(median(seen))}, p95 ${ms(percentile(seen, 0.95))}, max ${ms(Math.max(...seen))}. Goal: p95 ≤ 1 s.`,
        '',
        `**Decision-log sinks** (${ROUNDS} rounds of ${DURATION} s in rotating order after one uncounted warm-up round, ${CONNECTIONS} connections, one cached token, the reference mask; one toolgate process per variant). ` +
          'Throughput in decisions/s; CPU in µs per decision, read from /proc for the toolgate process (all threads, the decision-log worker included) and for the PostgreSQL server:',
        '',
        '| round | req/s, no log | req/s, file | req/s, Postgres | CPU, no log | CPU, file | CPU, Postgres sink (toolgate) | CPU, PostgreSQL server |',
        '|---|---|---|---|---|---|---|---|',
        ...rounds.map(
          (x, i) =>
            `| ${i + 1} | ${x.none.rps.toFixed(0)} | ${x.file.rps.toFixed(0)} | ${x.pg.rps.toFixed(0)} | ${x.none.cpu.toFixed(0)} | ${x.file.cpu.toFixed(0)} | ${x.pg.cpu.toFixed(0)} | ${x.pg.pg.toFixed(0)} |`,
        ),
        line('**median**', median),
        line('spread (max−min)/median, %', (xs) => spread(xs) * 100),
        '',
        `Cost of the Postgres sink, as the median of per-round ratios (range across rounds): throughput ${pct(median(tputCost))} against no log (${pct(Math.min(...tputCost))} to ${pct(Math.max(...tputCost))}), ` +
          `${pct(median(tputVsFile))} against the file sink (${pct(Math.min(...tputVsFile))} to ${pct(Math.max(...tputVsFile))}); ` +
          `toolgate CPU per decision ${pct(median(cpuCost))} against no log (${pct(Math.min(...cpuCost))} to ${pct(Math.max(...cpuCost))}), ` +
          `${pct(median(cpuVsFile))} against the file sink (${pct(Math.min(...cpuVsFile))} to ${pct(Math.max(...cpuVsFile))}). Goal: ≤ 15%.`,
        `Postgres sink: ${sink?.written ?? 0} events written, ${sink?.dropped ?? 0} dropped; ${rows[0]?.n ?? 0} rows in the table.`,
      ].join('\n'),
    );
  } finally {
    await Promise.all(children.map(stop));
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
