/**
 * The load-generation boilerplate of the HTTP benchmarks (http, workers,
 * shadow): server processes on their own ports, readiness, the check that a
 * server really allows the benchmark call, autocannon and wrk runs, CPU time
 * from /proc, alternating rounds and their spread.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import autocannon from 'autocannon';
import { median, waitReady } from './report.js';

/** A number from the environment (BENCH_ROUNDS, BENCH_SECONDS, …), or the default. */
export function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
}

/** One autocannon run. `failed` counts errors, timeouts and non-2xx answers. */
export interface LoadResult {
  rps: number;
  total: number;
  p50: number;
  p99: number;
  failed: number;
}

/**
 * POSTs `bodies` (in turn, one per request) to `url` for `seconds`, from this
 * process. With `rate`, autocannon holds that many requests per second in
 * total (a fixed rate, for CPU per request); without, it sends as fast as
 * `connections` allow (throughput).
 */
export function autocannonLoad(o: { url: string; bodies: readonly string[]; seconds: number; connections: number; rate?: number }): Promise<LoadResult> {
  let i = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: o.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: o.connections,
        duration: o.seconds,
        ...(o.rate ? { overallRate: o.rate } : {}),
        requests: [{ setupRequest: (req) => ({ ...req, body: o.bodies[i++ % o.bodies.length] }) }],
      },
      (err, r) => {
        if (err) return reject(err);
        resolve({ rps: r.requests.total / o.seconds, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, failed: r.errors + r.timeouts + r.non2xx });
      },
    );
  });
}

/** Whether wrk (Debian's package) is installed. */
export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Requests/s of one wrk run (one thread) POSTing `body`; throws on any non-2xx answer. `dir` holds its Lua script. */
export async function wrkLoad(o: { url: string; body: string; seconds: number; connections: number; dir: string }): Promise<number> {
  const script = path.join(o.dir, 'post.lua');
  await writeFile(script, `wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = ${JSON.stringify(o.body)}\n`);
  const out = execFileSync('wrk', ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '-s', script, o.url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (/Non-2xx/.test(out) || !m) throw new Error(`wrk: ${out}`);
  return Number(m[1]);
}

/** Stops a server and waits for its exit (SIGTERM: a clean exit writes a --cpu-prof profile). */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

/**
 * CPU seconds (user + system) a process has used, from /proc; with
 * `children`, its direct children's too (toolgate's workers). On a machine
 * shared with other jobs, a server's CPU per request is a steadier measure
 * than its throughput: one event loop's capacity is the inverse of it.
 */
export function cpuSeconds(pid: number, children = false): number {
  const pids = [pid];
  if (children) {
    try {
      pids.push(...execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number));
    } catch {
      // no children
    }
  }
  let ticks = 0;
  for (const p of pids) {
    const f = readFileSync(`/proc/${p}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    ticks += Number(rest[11]) + Number(rest[12]); // utime, stime in USER_HZ (100)
  }
  return ticks / 100;
}

/** BENCH_PIN=1: servers on CPU 0 (taskset), the load generator (this process) on the other. */
export function spawnServer(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  return process.env.BENCH_PIN === '1' ? spawn('taskset', ['-c', '0', cmd, ...args], opts) : spawn(cmd, args, opts);
}

/** A Node server script; BENCH_CPU_PROF=<dir> writes a V8 CPU profile of it on exit. */
export function spawnNodeServer(script: string, args: string[], opts: SpawnOptions = { stdio: 'ignore' }): ChildProcess {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  return spawnServer(process.execPath, [...prof, script, ...args], opts);
}

/** toolgate (dist/main.js under `root`) on the config `cfg`, written to `dir`; stderr shown. */
export async function spawnToolgate(root: string, dir: string, port: number, cfg: Record<string, unknown>, stdout: 'ignore' | 'pipe' = 'ignore'): Promise<ChildProcess> {
  const file = path.join(dir, `config-${port}.json`);
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1', port }, ...cfg }));
  return spawnNodeServer(path.join(root, 'dist/main.js'), ['--config', file], { stdio: ['ignore', stdout, 'inherit'] });
}

/** Starts a server on a port of its own. */
export type Starter = (port: number) => ChildProcess | Promise<ChildProcess>;

/** Server processes of one benchmark: each on the next port, waited for, all stopped at the end. */
export class Servers {
  private readonly children: ChildProcess[] = [];

  constructor(private port: number) {}

  /** Starts one and waits until `ready` answers 200. */
  async start(starter: Starter, ready = '/readyz'): Promise<{ child: ChildProcess; port: number }> {
    const port = ++this.port;
    const child = await starter(port);
    this.children.push(child);
    await waitReady(`http://127.0.0.1:${port}${ready}`, child);
    return { child, port };
  }

  async stopAll(): Promise<void> {
    for (const c of this.children) await stop(c);
  }
}

/** Throws unless `url` answers `body` with an allow: a benchmark of wrong answers is worthless. */
export async function assertAllows(url: string, body: string, name: string): Promise<void> {
  const text = await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
  if (!text.includes('"allow":true')) throw new Error(`${name} did not allow the benchmark call: ${text.slice(0, 300)}`);
}

/** Runs `each` for every variant in every round, the variants alternating within a round. */
export async function alternate<V>(rounds: number, variants: readonly V[], each: (v: V, round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) await each(v, round);
  }
}

/** "median (min–max)" of a sample. */
export function spread(xs: number[], digits = 0): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
}

/** CPU per request of one server process (tree) under a fixed request rate. */
export interface CpuAtRate {
  /** CPU µs (user + system) per answered request. */
  us: number;
  /** Requests per second actually answered: below the asked rate, the server (or the box) could not keep up. */
  achieved: number;
}

/**
 * CPU per request of the server `pid` at `rate` requests/s: a warm-up run,
 * then the server's CPU time (with its children when `children`) over one
 * run divided by the requests it answered. Every server compared must be
 * driven at the same rate: at a lower rate each response has to wake the
 * sleeping load generator, which the kernel charges to the server's write.
 */
export async function cpuAtRate(o: { url: string; pid: number; bodies: readonly string[]; rate: number; seconds: number; children?: boolean }): Promise<CpuAtRate> {
  // Few connections: at a fixed rate more only add idle sockets.
  const run = () => autocannonLoad({ url: o.url, bodies: o.bodies, seconds: o.seconds, connections: 10, rate: o.rate });
  await run();
  const before = cpuSeconds(o.pid, o.children);
  const r = await run();
  const used = cpuSeconds(o.pid, o.children) - before;
  if (r.failed > 0) throw new Error(`${r.failed} failed requests at ${o.rate}/s on ${o.url}`);
  return { us: (used / r.total) * 1e6, achieved: r.rps };
}
