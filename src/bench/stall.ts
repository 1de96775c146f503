/**
 * A stuck evaluation and everyone else (issue 24, item 3): toolgate with
 * `workers: 2` and `limits.evaluation_ms: 300`, on the reference policy plus
 * one rule that runs for seconds on one crafted input (test/fixtures/cluster/
 * stall.rego: `arguments.stall: 200` is 8 million steps). Other callers send
 * simple decisions at a fixed rate, on undici's default keep-alive pool (the
 * global fetch) and on a new connection each, while one stuck request is sent;
 * their latency is measured from when each was due (no coordinated omission).
 * Alternating rounds: a window without the stuck request (the baseline), then
 * one with it. Prints markdown tables; `--write` puts them into BENCHMARKS.md
 * between the stall markers. Numbers, not assertions.
 *
 * Parameters (environment): BENCH_STALL_ROUNDS (5), BENCH_WINDOW_MS (1500 ms
 * per window), BENCH_KEEPALIVE_EVERY_MS (5), BENCH_NEW_EVERY_MS (10),
 * BENCH_PORT (18700).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { benchIssuer } from './issuer.js';
import { assertAllows, envNumber, stop } from './load.js';
import { machine, percentile, report, waitReady } from './report.js';

const EVALUATION_MS = 300;
const ROUNDS = envNumber('BENCH_STALL_ROUNDS', 5);
const WINDOW_MS = envNumber('BENCH_WINDOW_MS', 1500);
const KEEPALIVE_EVERY = envNumber('BENCH_KEEPALIVE_EVERY_MS', 5);
const NEW_EVERY = envNumber('BENCH_NEW_EVERY_MS', 10);
/** The stuck request is sent this long into a window. */
const STALL_AT_MS = 100;
/** A request not answered within this is counted as failed (hung). */
const GIVE_UP_MS = 5000;
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '–');

type Via = 'keep-alive' | 'new connection';
/** An answer (status and the body's allow/code/http_status), or the error of a request that failed. */
type Outcome = { status: number; allow?: boolean; code?: string; httpStatus?: number } | { error: string };

/** An answer's status and the fields of its body the report shows. */
const summary = (status: number, text: string): Outcome => {
  let b: { allow?: boolean; code?: string; http_status?: number } = {};
  try {
    b = JSON.parse(text) as typeof b;
  } catch {
    // not JSON: the status says it
  }
  return { status, allow: b.allow, code: b.code, httpStatus: b.http_status };
};

/** One decision over undici's default keep-alive pool (Node's global fetch). */
async function viaFetch(url: string, body: string): Promise<Outcome> {
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(GIVE_UP_MS) });
    return summary(r.status, await r.text());
  } catch (e) {
    return { error: `${(e as Error).message} (${String((e as Error).cause)})` };
  }
}

/** One decision on a connection of its own (`agent: false`): node:cluster hands it to the next worker in turn. */
function viaNewConnection(url: string, body: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => resolve({ error: e.message }));
      res.on('end', () => resolve(summary(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('error', (e) => resolve({ error: e.message }));
    req.setTimeout(GIVE_UP_MS, () => req.destroy(new Error(`no answer within ${GIVE_UP_MS} ms`)));
    req.end(body);
  });
}

interface Sample {
  via: Via;
  /** When it was due, ms from the window's start. */
  due: number;
  /** From due to answered. */
  ms: number;
  ok: boolean;
  outcome: Outcome;
}

/** Other callers' decisions at fixed rates on both paths for WINDOW_MS; `during` runs meanwhile. */
async function loadWindow(url: string, body: string, during?: (start: number) => Promise<void>): Promise<Sample[]> {
  const samples: Sample[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const stream = async (via: Via, every: number) => {
    for (let i = 0; i < WINDOW_MS / every; i++) {
      const due = start + i * every;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const send = via === 'keep-alive' ? viaFetch : viaNewConnection;
      pending.push(send(url, body).then((outcome) => {
        const ok = 'status' in outcome && outcome.status === 200 && outcome.allow === true;
        samples.push({ via, due: due - start, ms: performance.now() - due, ok, outcome });
      }));
    }
  };
  const extra = during ? during(start) : Promise.resolve();
  await Promise.all([stream('keep-alive', KEEPALIVE_EVERY), stream('new connection', NEW_EVERY), extra]);
  await Promise.all(pending);
  return samples;
}

interface Stuck {
  via: Via;
  sentAt: number;
  ms: number;
  outcome: Outcome;
}

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-bench-stall-'));
  const resource = 'http://127.0.0.1:3000/mcp';
  const issuer = 'https://bench.toolgate.test';
  const port = envNumber('BENCH_PORT', 18_700) + 1;
  let child: ChildProcess | undefined;
  let log = '';
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    const token = await bench.sign({}, '2h');
    // The reference policy plus the rule that stalls on `arguments.stall`.
    const policies = path.join(dir, 'policies');
    await cp(path.join(root, 'policies'), policies, { recursive: true });
    await writeFile(path.join(policies, 'mcp/authz/stall.rego'), await readFile(path.join(root, 'test/fixtures/cluster/stall.rego'), 'utf8'));
    const file = path.join(dir, 'toolgate.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        workers: 2,
        limits: { evaluation_ms: EVALUATION_MS },
        policy: { source: { policies, out: path.join(dir, 'build'), watch: false } },
        issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
      }),
    );
    child = spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (log += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')));
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/readyz`, child);
    const url = `${base}/v1/decisions`;
    const call = (extra: Record<string, unknown> = {}) => JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 5, currency: 'USD', ...extra } } });
    const simple = call();
    const stuckBody = call({ stall: 200 });
    await assertAllows(url, simple, 'toolgate');
    // Both workers verify and cache the token; the keep-alive pool opens its connections.
    for (let i = 0; i < 16; i++) await Promise.all([viaFetch(url, simple), viaNewConnection(url, simple)]);
    await loadWindow(url, simple);

    const baseline: Sample[] = [];
    const pendingWhileStuck: Sample[] = [];
    const stalledWindows: Sample[] = [];
    const stuck: Stuck[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      baseline.push(...(await loadWindow(url, simple)));
      // The stuck request alternates between the keep-alive pool and a new connection.
      const via: Via = round % 2 === 0 ? 'new connection' : 'keep-alive';
      let one: Stuck | undefined;
      const samples = await loadWindow(url, simple, async (start) => {
        await new Promise((r) => setTimeout(r, STALL_AT_MS));
        const t0 = performance.now();
        const outcome = await (via === 'keep-alive' ? viaFetch(url, stuckBody) : viaNewConnection(url, stuckBody));
        one = { via, sentAt: t0 - start, ms: performance.now() - t0, outcome };
      });
      stuck.push(one!);
      stalledWindows.push(...samples);
      pendingWhileStuck.push(...samples.filter((s) => s.due >= one!.sentAt && s.due <= one!.sentAt + one!.ms));
      // The terminated evaluation thread is replaced before the next round.
      await new Promise((r) => setTimeout(r, 1000));
    }

    const rows: string[] = [
      `| other callers' simple decisions (${ROUNDS} rounds) | path | answered (allow) | failed | p50 | p99 | max |`,
      '|---|---|---:|---:|---:|---:|---:|',
    ];
    const line = (label: string, xs: Sample[], via: Via) => {
      const mine = xs.filter((s) => s.via === via);
      const ok = mine.filter((s) => s.ok).map((s) => s.ms);
      rows.push(`| ${label} | ${via} | ${ok.length} | ${mine.length - ok.length} | ${ms(percentile(ok, 0.5))} | ${ms(percentile(ok, 0.99))} | ${ms(Math.max(...ok))} |`);
    };
    for (const via of ['keep-alive', 'new connection'] as const) line('no stuck request (baseline windows)', baseline, via);
    for (const via of ['keep-alive', 'new connection'] as const) line('due while the stuck request was pending', pendingWhileStuck, via);
    for (const via of ['keep-alive', 'new connection'] as const) line(`whole window with the stuck request (${WINDOW_MS} ms: stall, refusal, thread replacement)`, stalledWindows, via);
    const answer = (o: Outcome) => ('error' in o ? `failed: ${o.error}` : `${o.status}, allow ${String(o.allow)}, ${o.code ?? 'no code'}${o.httpStatus ? `, http_status ${o.httpStatus}` : ''}`);
    const refusedMs = stuck.map((s) => s.ms);
    rows.push(
      '',
      `| the stuck request (arguments.stall: 200), ${ROUNDS} rounds | value |`,
      '|---|---:|',
      `| answers | ${[...new Set(stuck.map((s) => answer(s.outcome)))].join('; ')} |`,
      `| sent via | ${stuck.map((s) => s.via).join(', ')} |`,
      `| refused after (each round) | ${refusedMs.map((x) => x.toFixed(0)).join(', ')} ms |`,
      `| refused after, max (goal ≤ evaluation_ms + 100 = ${EVALUATION_MS + 100} ms) | ${ms(Math.max(...refusedMs))} |`,
    );
    const failures = [...baseline, ...stalledWindows].filter((s) => !s.ok);
    if (failures.length > 0) rows.push('', `Failed answers (first 5): ${failures.slice(0, 5).map((s) => `${s.via}: ${answer(s.outcome)}`).join('; ')}.`);
    const replaced = (log.match(/evaluation ran past limits\.evaluation_ms/g) ?? []).length;
    const killed = (log.match(/killing it/g) ?? []).length;
    const text = [
      `Method: ${machine()}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end (2 cores, shared). \`node dist/bench/stall.js\`: one toolgate (\`workers: 2\`, \`limits.evaluation_ms: ${EVALUATION_MS}\`, decision log off), the reference policy plus test/fixtures/cluster/stall.rego; ${ROUNDS} rounds, each a ${WINDOW_MS} ms window without and one with a stuck request (sent ${STALL_AT_MS} ms in, alternately on a new connection and on the keep-alive pool); other callers send an allowed refunds.create every ${KEEPALIVE_EVERY} ms on undici's default keep-alive pool (global fetch) and every ${NEW_EVERY} ms on a new connection (\`http.request\`, \`agent: false\`), from this process, latency from when each was due; "failed" is an error, no answer within ${GIVE_UP_MS} ms, or anything but 200 with allow. toolgate logged ${replaced} evaluation threads replaced and ${killed} workers killed by the process watchdog.`,
      '',
      ...rows,
    ].join('\n');
    await report('stall', text);
  } finally {
    if (child) await stop(child);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
