/**
 * `workers` benchmarks: toolgate with 1 and 2 workers, and with 10,000 distinct
 * tokens next to `opa run --server` verifying the JWT in Rego (alternating rounds,
 * medians and spread), under autocannon and, when installed, wrk (a native load
 * generator: a Node one takes a core of its own on two cores); CPU per request at
 * one fixed rate for toolgate, the bare floor, toolgate with the watchdog, and the
 * policy evaluation alone; and the swap latency across workers.
 * Usage: node dist/bench/workers.js [--write]   (BENCH_ROUNDS, BENCH_SECONDS, BENCH_RATE)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { readBundleArchive } from '../policy-compiler/bundle-archive.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { benchIssuer } from './issuer.js';
import { machine, median, percentile, report, waitReady } from './report.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_SECONDS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const CONNECTIONS = 50;
const root = process.cwd();

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

function load(url: string, bodies: string[], rate?: number): Promise<number> {
  let i = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        connections: rate ? 10 : CONNECTIONS,
        duration: DURATION,
        ...(rate ? { overallRate: rate } : {}),
        requests: [{ setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }) }],
      },
      (err, r) => (err ? reject(err) : resolve(r.errors + r.timeouts + r.non2xx > 0 ? NaN : r.requests.total / DURATION)),
    );
  });
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

async function wrk(url: string, body: string, dir: string): Promise<number> {
  const script = path.join(dir, 'post.lua');
  await writeFile(script, `wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = ${JSON.stringify(body)}\n`);
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '-s', script, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (/Non-2xx/.test(out) || !m) throw new Error(`wrk: ${out}`);
  return Number(m[1]);
}

/** CPU seconds (user + system) of a process and its children, from /proc. */
function treeCpu(pid: number): number {
  const pids = [pid];
  try {
    pids.push(...execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number));
  } catch {
    // no children
  }
  let ticks = 0;
  for (const p of pids) {
    const f = readFileSync(`/proc/${p}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return ticks / 100;
}

const spread = (xs: number[]) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-workers-bench-'));
  const issuer = 'https://bench.toolgate.test';
  const resource = 'http://127.0.0.1:3000/mcp';
  const children: ChildProcess[] = [];
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    // Varied arguments: no two consecutive bodies are the same decision input.
    const bodyFor = (token: string, i: number) =>
      JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 1 + (i % 99), currency: 'USD' } } });
    const hot = await bench.sign({ jti: 'hot' });
    const one = Array.from({ length: 1000 }, (_, i) => bodyFor(hot, i));
    const many: string[] = [];
    for (let i = 0; i < 10_000; i++) many.push(bodyFor(await bench.sign({ jti: `t-${i}` }), i));
    await cp(path.join(root, 'policies'), path.join(dir, 'policies'), { recursive: true });
    const toolgate = (workers: number, opts: { cache?: number; evaluationMs?: number; watch?: boolean } = {}) => async (port: number) => {
      const cfg = {
        listen: { host: '127.0.0.1', port },
        workers,
        ...(opts.evaluationMs ? { limits: { evaluation_ms: opts.evaluationMs } } : {}),
        policy: { source: { policies: path.join(dir, 'policies'), tests: path.join(root, 'rego-tests'), out: path.join(dir, `build-${port}`), watch: !!opts.watch, test_gate: false } },
        issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
        token_cache: { max_entries: opts.cache ?? 10_000 },
      };
      const file = path.join(dir, `config-${port}.json`);
      await writeFile(file, JSON.stringify(cfg));
      return spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    };
    const opaServer = async (port: number) => {
      // The same policy under OPA, verifying the JWT in Rego (io.jwt.decode_verify), JWT cache of 1,000.
      const rego = `package toolgate_bench\n\nimport data.mcp.authz\n\n_v := io.jwt.decode_verify(input.token, {"cert": ${JSON.stringify(JSON.stringify({ keys: [bench.publicJwk] }))}, "iss": "${issuer}", "aud": "${resource}"})\n\n_claims := _v[2] if _v[0]\n\ndefault decision := {"allow": false}\n\ndecision := d if {\n\t_claims\n\td := authz.decision with input as {"claims": _claims, "scopes": split(_claims.scope, " "), "server": input.server, "action": "call", "tool": {"name": input.tool.name, "arguments": input.tool.arguments, "annotations": {}}, "time": ""}\n}\n`;
      await writeFile(path.join(dir, 'opa-bench.rego'), rego);
      const cfg = path.join(dir, 'opa.yaml');
      await writeFile(cfg, 'caching:\n  inter_query_builtin_value_cache:\n    named:\n      io_jwt:\n        max_num_entries: 1000\n');
      return spawn(path.join(root, '.tools/bin/opa'), ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '-c', cfg, path.join(dir, 'policies'), path.join(dir, 'opa-bench.rego')], { stdio: 'ignore' });
    };
    let port = 18500;
    const serve = async (start: (port: number) => Promise<ChildProcess>, ready = '/readyz') => {
      port++;
      const child = await start(port);
      child.stdout?.resume();
      children.push(child);
      await waitReady(`http://127.0.0.1:${port}${ready}`, child);
      return { child, port };
    };

    // Throughput, alternating rounds.
    const withWrk = hasWrk();
    const variants = [
      { id: 'w1', name: 'toolgate, workers: 1', start: toolgate(1), bodies: one },
      { id: 'w2', name: 'toolgate, workers: 2', start: toolgate(2), bodies: one },
      { id: 'w2many', name: 'toolgate, workers: 2, 10,000 distinct tokens, token cache 1,000', start: toolgate(2, { cache: 1000 }), bodies: many },
      { id: 'opaMany', name: 'opa run --server, JWT in Rego, 10,000 distinct tokens, JWT cache 1,000', start: opaServer, bodies: many, path: '/v1/data/toolgate_bench/decision', ready: '/health' },
    ];
    const ac = new Map<string, number[]>(variants.map((v) => [v.id, []]));
    const wk = new Map<string, number[]>(variants.map((v) => [v.id, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        const { child, port: p } = await serve(v.start, v.ready);
        const url = `http://127.0.0.1:${p}${v.path ?? '/v1/decisions'}`;
        const bodies = v.path ? v.bodies.map((b) => `{"input":${b}}`) : v.bodies;
        const check = await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[0] })).text();
        if (!check.includes('"allow":true')) throw new Error(`${v.name} did not allow the benchmark call: ${check.slice(0, 300)}`);
        await load(url, bodies); // warm-up
        ac.get(v.id)!.push(await load(url, bodies));
        if (withWrk && !v.id.endsWith('many') && v.id !== 'opaMany') wk.get(v.id)!.push(await wrk(url, bodies[0], dir));
        await stop(child);
      }
    }

    // CPU per request at one fixed rate.
    const cpuAt = async (start: (port: number) => Promise<ChildProcess>) => {
      const { child, port: p } = await serve(start);
      const url = `http://127.0.0.1:${p}/v1/decisions`;
      await load(url, one, RATE);
      const before = treeCpu(child.pid!);
      const done = (await load(url, one, RATE)) * DURATION;
      const used = treeCpu(child.pid!) - before;
      await stop(child);
      return (used / done) * 1e6;
    };
    const floorServer = async (p: number) => spawn(process.execPath, [path.join(root, 'dist/bench/floor-server.js'), String(p), '0'], { stdio: 'ignore' });
    const cpu = { tg: [] as number[], floor: [] as number[], watchdog: [] as number[], evaluation: [] as number[] };
    let bundleDir = '';
    for (let round = 0; round < ROUNDS; round++) {
      cpu.floor.push(await cpuAt(floorServer));
      const before = port + 1;
      cpu.tg.push(await cpuAt(toolgate(1)));
      bundleDir = path.join(dir, `build-${before}`);
      cpu.watchdog.push(await cpuAt(toolgate(1, { evaluationMs: 2000 })));
    }
    const files = readBundleArchive(await readFile(path.join(bundleDir, 'bundle.tar.gz')));
    const policy = await WasmPolicy.load(files.get('/policy.wasm')!, JSON.parse(files.get('/data.json')?.toString('utf8') ?? '{}'), { requiredEntrypoints: [DECISION_ENTRYPOINT] });
    for (let round = 0; round < ROUNDS; round++) {
      const n = RATE * DURATION;
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const input = { claims: { sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', iss: issuer }, scopes: ['refunds:write'], server: 'demo', action: 'call', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 1 + (i % 99), currency: 'USD' }, annotations: {} }, time: new Date().toISOString() };
        policy.evaluate(DECISION_ENTRYPOINT, input, { nowNs: Date.now() * 1e6 });
      }
      const c = process.cpuUsage(c0);
      cpu.evaluation.push((c.user + c.system) / n);
    }

    // Swap latency: revisions activated in the primary, timed until each worker answers with them.
    const { child: swapChild } = await serve(toolgate(2, { watch: true }));
    let out = '';
    swapChild.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const catalogFile = path.join(dir, 'policies/catalog/data.json');
    const catalog = JSON.parse(await readFile(catalogFile, 'utf8'));
    const swaps = Math.max(3, ROUNDS);
    const SWAP = /answers with revision .*?, (\d+) ms after activation/g;
    // The two workers' first policy is not a swap.
    await new Promise((r) => setTimeout(r, 500));
    const initial = [...out.matchAll(SWAP)].length;
    for (let i = 0; i < swaps; i++) {
      catalog.bench_revision = i;
      await writeFile(catalogFile, JSON.stringify(catalog));
      const want = initial + (i + 1) * 2;
      for (let t = 0; t < 600 && [...out.matchAll(SWAP)].length < want; t++) await new Promise((r) => setTimeout(r, 100));
    }
    await stop(swapChild);
    const swapMs = [...out.matchAll(SWAP)].slice(initial).map((m) => Number(m[1]));

    const m = (id: string, src = ac) => median(src.get(id)!);
    const tgCpu = median(cpu.tg);
    const floorCpu = median(cpu.floor);
    const evalCpu = median(cpu.evaluation);
    const lines = [
      `${machine()}; load average at the start ${os.loadavg()[0].toFixed(1)} (the box is shared: treat ratios, not absolutes). ${ROUNDS} alternating rounds of ${DURATION} s after a ${DURATION} s warm-up, ${CONNECTIONS} connections, medians (min–max). Varied tool arguments, one cached token unless said.`,
      '',
      '| server | autocannon req/s | wrk req/s |',
      '|---|---:|---:|',
      ...variants.map((v) => `| ${v.name} | ${spread(ac.get(v.id)!)} | ${wk.get(v.id)!.length ? spread(wk.get(v.id)!) : withWrk ? '–' : 'wrk not installed'} |`),
      '',
      `workers: 2 ÷ workers: 1 = ${(m('w2') / m('w1')).toFixed(2)}× (autocannon)${withWrk ? `, ${(m('w2', wk) / m('w1', wk)).toFixed(2)}× (wrk)` : ''}; 10,000 distinct tokens, workers: 2 ÷ opa run --server = ${(m('w2many') / m('opaMany')).toFixed(2)}×.`,
      '',
      `CPU per request at ${RATE} req/s (process tree, /proc): toolgate ${tgCpu.toFixed(1)} µs (${Math.min(...cpu.tg).toFixed(1)}–${Math.max(...cpu.tg).toFixed(1)}), bare floor ${floorCpu.toFixed(1)} µs, toolgate under the watchdog (workers: 1 + limits.evaluation_ms: primary + one worker) ${median(cpu.watchdog).toFixed(1)} µs, the evaluation alone ${evalCpu.toFixed(1)} µs. Toolgate minus evaluation = ${(tgCpu - evalCpu).toFixed(1)} µs = ${((tgCpu - evalCpu) / floorCpu).toFixed(2)}× the floor (goal ≤ 2×). Watchdog: ${(median(cpu.watchdog) - tgCpu).toFixed(1)} µs per decision (goal ≤ 2 µs).`,
      '',
      `Swap latency, activation in the primary → each of 2 workers answering with it (${swapMs.length} samples): p50 ${median(swapMs)} ms, p95 ${percentile(swapMs, 0.95)} ms, max ${Math.max(...swapMs)} ms (goal p95 ≤ 100 ms).`,
    ];
    await report('workers', lines.join('\n'));
  } finally {
    for (const c of children) await stop(c);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

