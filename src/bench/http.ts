/**
 * HTTP throughput and latency over loopback: toolgate with decision logging
 * off and with the file sink on, next to the bare Fastify floor. Each server
 * runs in its own process (one core); autocannon drives it from this process
 * (the other core). Variants alternate, each runs several times, medians are
 * reported. `--write` puts the table into BENCHMARKS.md between the http markers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

interface Variant {
  name: string;
  start: (port: number) => Promise<ChildProcess>;
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 50;

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
  });
}

function load(url: string, body: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    autocannon(
      { url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration: DURATION },
      (err, r) => {
        if (err) return reject(err);
        resolve({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx });
      },
    );
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-http-bench-'));
  const issuer = 'https://bench.toolgate.test';
  const resource = 'http://127.0.0.1:3000/mcp';
  const children: ChildProcess[] = [];
  try {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const token = await new SignJWT({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', card: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(resource)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
    const body = JSON.stringify({
      token,
      server: 'demo',
      tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD', card_number: '4111111111111111' } },
    });
    // The same policy without its decision-log mask, to show what masking costs.
    await cp(path.join(root, 'policies'), path.join(dir, 'policies-nomask'), { recursive: true });
    await rm(path.join(dir, 'policies-nomask/system'), { recursive: true, force: true });
    const toolgate = (logFile?: string, policies = path.join(root, 'policies')) => async (port: number) => {
      const cfg = {
        listen: { host: '127.0.0.1', port },
        policy: { source: { policies, tests: path.join(root, 'rego-tests'), out: path.join(dir, `build-${port}`), watch: false, test_gate: false } },
        issuers: [{ issuer, jwks_file: path.join(dir, 'jwks.json'), algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
        ...(logFile ? { decision_logs: { file: { path: logFile, max_bytes: 256 * 1024 * 1024, max_files: 2 } } } : {}),
      };
      const file = path.join(dir, `config-${port}.json`);
      await writeFile(file, JSON.stringify(cfg));
      return spawn(process.execPath, [path.join(root, 'dist/main.js'), '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    };
    const variants: Variant[] = [
      { name: 'bare Fastify floor (parse JSON, fixed answer)', start: async (port) => spawn(process.execPath, [path.join(root, 'dist/bench/floor-server.js'), String(port)], { stdio: 'ignore' }) },
      { name: 'toolgate, decision logs off', start: toolgate() },
      { name: 'toolgate, decision logs to a file (masked)', start: toolgate(path.join(dir, 'decisions.jsonl')) },
      { name: 'toolgate, decision logs to a file, policy without a mask', start: toolgate(path.join(dir, 'decisions-nomask.jsonl'), path.join(dir, 'policies-nomask')) },
    ];
    const results = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
    let port = 18300;
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        port++;
        const child = await v.start(port);
        children.push(child);
        await waitReady(`http://127.0.0.1:${port}/readyz`, child);
        const url = `http://127.0.0.1:${port}/v1/decisions`;
        await load(url, body).catch(() => undefined); // warm-up
        results.get(v.name)!.push(await load(url, body));
        await stop(child);
      }
    }
    const floor = median(results.get(variants[0].name)!.map((r) => r.rps));
    const off = median(results.get(variants[1].name)!.map((r) => r.rps));
    const rows = variants.map((v) => {
      const rs = results.get(v.name)!;
      const rps = median(rs.map((r) => r.rps));
      return `| ${v.name} | ${rps.toFixed(0)} | ${median(rs.map((r) => r.p50)).toFixed(1)} | ${median(rs.map((r) => r.p99)).toFixed(1)} | ${(rps / floor).toFixed(2)} | ${rs.reduce((a, r) => a + r.errors + r.non2xx, 0)} |`;
    });
    const on = median(results.get(variants[2].name)!.map((r) => r.rps));
    const meta = `Node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString().slice(0, 10)}. Server: one process (one core); load: autocannon in another process, ${CONNECTIONS} connections, ${DURATION} s per run after a ${DURATION} s warm-up, ${ROUNDS} alternating rounds, medians. One cached ES256 token, an allowed refunds.create call.`;
    const table = [
      '| server | req/s | p50 ms | p99 ms | × floor | errors + non-2xx |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
    const onNoMask = median(results.get(variants[3].name)!.map((r) => r.rps));
    const cost = `Decision logging to a file costs ${((1 - on / off) * 100).toFixed(1)}% of throughput over HTTP with the reference mask, ${((1 - onNoMask / off) * 100).toFixed(1)}% without a mask policy.`;
    console.log(meta);
    console.log(table);
    console.log(cost);
    if (process.argv.includes('--write')) {
      const file = path.join(root, 'BENCHMARKS.md');
      const doc = await readFile(file, 'utf8');
      const start = '<!-- http:start -->';
      const end = '<!-- http:end -->';
      const i = doc.indexOf(start);
      const j = doc.indexOf(end);
      if (i < 0 || j < 0) throw new Error('BENCHMARKS.md lacks the http markers');
      await writeFile(file, `${doc.slice(0, i + start.length)}\n${meta}\n\n${table}\n\n${cost}\n${doc.slice(j)}`);
    }
  } finally {
    for (const c of children) await stop(c);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
