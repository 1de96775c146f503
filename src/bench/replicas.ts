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

    // 2. Decision-log sink cost.
    const plain = await start('no-log', {});
    const logged = await start('pg-log', { decision_logs: { postgres: { url: db.url } } });
    const hot = body(await bench.sign({ jti: 'hot' }));
    interface Round {
      plain: number;
      logged: number;
      /** CPU µs per decision: toolgate without logging; toolgate with the sink; PostgreSQL for those events. */
      cpuPlain: number;
      cpuLogged: number;
      cpuPg: number;
    }
    const rounds: Round[] = [];
    // One variant under load; its throughput and the CPU it (and, with the sink, PostgreSQL) used per decision.
    const measure = async (url: string) => {
      const [c0, p0] = [await cpuSeconds(pids.get(url)!), await db.cpuSeconds()];
      const r = await rps(`${url}/v1/decisions`, hot);
      // Let the sink write what it buffered, so PostgreSQL's share of this round is counted in it.
      await new Promise((res) => setTimeout(res, 1500));
      const [c1, p1] = [await cpuSeconds(pids.get(url)!), await db.cpuSeconds()];
      if (r.non2xx) throw new Error('non-2xx answers under load');
      const n = r.rps * DURATION;
      return { rps: r.rps, cpu: ((c1 - c0) * 1e6) / n, pg: ((p1 - p0) * 1e6) / n };
    };
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating order, so drift of the machine over time does not favour one variant.
      const [a, b] = r % 2 === 0 ? [await measure(plain), await measure(logged)] : [await measure(logged), await measure(plain)].reverse();
      rounds.push({ plain: a.rps, logged: b.rps, cpuPlain: a.cpu, cpuLogged: b.cpu, cpuPg: b.pg });
    }
    await new Promise((res) => setTimeout(res, 1500));
    const status = (await (await fetch(`${logged}/v1/status`)).json()) as { decision_logs: { name: string; written: number; dropped: number }[] };
    const rows = await db.query<{ n: string }>("SELECT count(*) AS n FROM toolgate_decision_logs WHERE instance_id = 'pg-log'");
    const costs = rounds.map((x) => 1 - x.logged / x.plain);
    const cpuCosts = rounds.map((x) => (x.cpuLogged - x.cpuPlain) / x.cpuPlain);
    const cpuCostsAll = rounds.map((x) => (x.cpuLogged + x.cpuPg - x.cpuPlain) / x.cpuPlain);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);
    const sink = status.decision_logs.find((s) => s.name === 'postgres');

    await report(
      'replicas',
      [
        `Method: ${machine()}; PostgreSQL 15 on loopback (a cluster of its own, default settings), sharing the two cores with toolgate and the load generator.`,
        '',
        `**Revocation propagation** (${REVOCATIONS} revocations through replicas A, B, C in turn; time from sending the admin call to a denial on each other replica, polled back to back over HTTP; ${seen.length} samples): ` +
          `p50 ${ms(median(seen))}, p95 ${ms(percentile(seen, 0.95))}, max ${ms(Math.max(...seen))}. Goal: p95 ≤ 1 s.`,
        '',
        `**Postgres decision-log sink** (${ROUNDS} alternating rounds of ${DURATION} s, ${CONNECTIONS} connections, one cached token; one toolgate process each):`,
        '',
        '| round | no log: req/s | sink: req/s | throughput cost | no log: CPU µs/decision | sink: toolgate CPU µs/decision | sink: PostgreSQL CPU µs/decision | CPU cost, toolgate | CPU cost, toolgate + PostgreSQL |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rounds.map(
          (x, i) =>
            `| ${i + 1} | ${x.plain.toFixed(0)} | ${x.logged.toFixed(0)} | ${pct(costs[i])} | ${x.cpuPlain.toFixed(0)} | ${x.cpuLogged.toFixed(0)} | ${x.cpuPg.toFixed(0)} | ${pct(cpuCosts[i])} | ${pct(cpuCostsAll[i])} |`,
        ),
        `| **median** | ${median(rounds.map((x) => x.plain)).toFixed(0)} | ${median(rounds.map((x) => x.logged)).toFixed(0)} | **${pct(median(costs))}** | ` +
          `${median(rounds.map((x) => x.cpuPlain)).toFixed(0)} | ${median(rounds.map((x) => x.cpuLogged)).toFixed(0)} | ${median(rounds.map((x) => x.cpuPg)).toFixed(0)} | **${pct(median(cpuCosts))}** | **${pct(median(cpuCostsAll))}** |`,
        '',
        `Spread (max − min over median): throughput ${pct(spread(rounds.map((x) => x.plain)))} without logging, ${pct(spread(rounds.map((x) => x.logged)))} with the sink; ` +
          `CPU per decision ${pct(spread(rounds.map((x) => x.cpuPlain)))} without logging, ${pct(spread(rounds.map((x) => x.cpuLogged)))} with the sink. ` +
          `Throughput cost ranges ${pct(Math.min(...costs))} to ${pct(Math.max(...costs))} across rounds; toolgate CPU cost ${pct(Math.min(...cpuCosts))} to ${pct(Math.max(...cpuCosts))}. Goal: ≤ 15%.`,
        `Events: ${sink?.written ?? 0} written, ${sink?.dropped ?? 0} dropped (full buffer); ${rows[0]?.n ?? 0} rows in the table (some from the warm-up decisions).`,
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
