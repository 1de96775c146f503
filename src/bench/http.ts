/**
 * HTTP throughput and latency over loopback: toolgate with decision logging
 * off and with the file sink on, next to the bare Fastify floor. Each server
 * runs in its own process (one core); autocannon drives it from this process
 * (the other core). Variants alternate, each runs several times, medians are
 * reported. `--write` puts the table into BENCHMARKS.md between the http markers.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { machine, median, report } from './report.js';
import { benchIssuer } from './issuer.js';
import { alternate, assertAllows, autocannonLoad, envNumber, Servers, spawnNodeServer, spawnServer, spawnToolgate, stop, type LoadResult, type Starter } from './load.js';

interface Variant {
  id: string;
  name: string;
  scenario: 'one cached token' | '10,000 distinct tokens';
  start: Starter;
  /** Path to POST to and how to wrap the decision body. */
  path?: string;
  wrap?: (body: string) => string;
  ready?: string;
}

const DURATION = envNumber('BENCH_SECONDS', 5);
const ROUNDS = envNumber('BENCH_ROUNDS', 5);
const CONNECTIONS = 50;
/** BENCH_ONLY=off,floor: run only these variants and print their runs (no summary; never with --write). */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-http-bench-'));
  const issuer = 'https://bench.toolgate.test';
  const resource = 'http://127.0.0.1:3000/mcp';
  const servers = new Servers(18300);
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    const sign = (jti: string) => bench.sign({ jti });
    const bodyFor = (token: string) =>
      JSON.stringify({
        token,
        server: 'demo',
        tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD', card_number: '4111111111111111' } },
      });
    const one = [bodyFor(await sign('hot'))];
    const many: string[] = [];
    for (let i = 0; i < 10_000; i++) many.push(bodyFor(await sign(`t-${i}`)));
    // The same reference policy under `opa run --server`, verifying the JWT in Rego with
    // io.jwt.decode_verify against the same JWKS, OPA's JWT cache on.
    const jwks = JSON.stringify({ keys: [bench.publicJwk] });
    await writeFile(
      path.join(dir, 'opa-bench.rego'),
      [
        'package toolgate_bench',
        '',
        'import data.mcp.authz',
        '',
        '_verified := io.jwt.decode_verify(input.token, {"cert": data.toolgate_bench_data.jwks, "iss": data.toolgate_bench_data.issuer, "aud": data.toolgate_bench_data.resource})',
        '',
        '_claims := _verified[2] if _verified[0]',
        '',
        'default _scopes := []',
        '',
        '_scopes := split(_claims.scope, " ") if is_string(_claims.scope)',
        '',
        'default decision := {"allow": false, "reasons": ["token rejected"], "required_scopes": []}',
        '',
        'decision := d if {',
        '	_claims',
        '	d := authz.decision with input as {"claims": _claims, "scopes": _scopes, "server": input.server, "action": "call", "tool": {"name": input.tool.name, "arguments": object.get(input.tool, "arguments", {}), "annotations": {}}, "time": ""}',
        '}',
        '',
      ].join('\n'),
    );
    await cp(path.join(root, 'policies'), path.join(dir, 'opa-policies'), { recursive: true });
    await mkdir(path.join(dir, 'opa-policies/toolgate_bench_data'), { recursive: true });
    await writeFile(path.join(dir, 'opa-policies/toolgate_bench_data/data.json'), JSON.stringify({ jwks, issuer, resource }));
    const opaServer = (cacheEntries: number) => async (port: number) => {
      const cfg = path.join(dir, `opa-config-${port}.yaml`);
      await writeFile(cfg, `caching:\n  inter_query_builtin_value_cache:\n    named:\n      io_jwt:\n        max_num_entries: ${cacheEntries}\n      io_jwt_keys:\n        max_num_entries: 10\n`);
      return spawnServer(path.join(root, '.tools/bin/opa'), ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '-c', cfg, path.join(dir, 'opa-policies'), path.join(dir, 'opa-bench.rego')], { stdio: 'ignore' });
    };
    const opaWrap = (body: string) => `{"input":${body}}`;
    // The same policy without its decision-log mask, to show what masking costs.
    await cp(path.join(root, 'policies'), path.join(dir, 'policies-nomask'), { recursive: true });
    await rm(path.join(dir, 'policies-nomask/system'), { recursive: true, force: true });
    const toolgate =
      (logFile?: string, policies = path.join(root, 'policies'), cacheEntries = 10_000, workers = 1): Starter =>
      (port) =>
        spawnToolgate(root, dir, port, {
          policy: { source: { policies, tests: path.join(root, 'rego-tests'), out: path.join(dir, `build-${port}`), watch: false, test_gate: false } },
          issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
          servers: [{ id: 'demo', resource, issuers: [issuer] }],
          revocation: { file: path.join(dir, 'revocations.json') },
          token_cache: { max_entries: cacheEntries },
          workers,
          ...(logFile ? { decision_logs: { file: { path: logFile, max_bytes: 256 * 1024 * 1024, max_files: 2 } } } : {}),
        });
    const floorServer = (workUs: number): Starter => (port) => spawnNodeServer(path.join(root, 'dist/bench/floor-server.js'), [String(port), String(workUs)]);
    const opaReady = '/health';
    const allVariants: Variant[] = [
      { id: 'floor', scenario: 'one cached token', name: 'bare Fastify floor (parse JSON, fixed answer)', start: floorServer(0) },
      { id: 'floor20', scenario: 'one cached token', name: 'floor + 20 µs of busy work per request (about one policy evaluation)', start: floorServer(20) },
      { id: 'floor60', scenario: 'one cached token', name: 'floor + 60 µs of busy work per request', start: floorServer(60) },
      { id: 'off', scenario: 'one cached token', name: 'toolgate, decision logs off', start: toolgate() },
      { id: 'cluster', scenario: 'one cached token', name: 'toolgate, decision logs off, 2 workers (node:cluster, sharing the 2 cores with the load generator)', start: toolgate(undefined, undefined, 10_000, 2) },
      { id: 'opaOne', scenario: 'one cached token', name: 'opa run --server, JWT verified in Rego, JWT cache on', start: opaServer(10_000), path: '/v1/data/toolgate_bench/decision', wrap: opaWrap, ready: opaReady },
      { id: 'on', scenario: 'one cached token', name: 'toolgate, decision logs to a file (masked)', start: toolgate(path.join(dir, 'decisions.jsonl')) },
      { id: 'onNoMask', scenario: 'one cached token', name: 'toolgate, decision logs to a file, policy without a mask', start: toolgate(path.join(dir, 'decisions-nomask.jsonl'), path.join(dir, 'policies-nomask')) },
      { id: 'tgMany', scenario: '10,000 distinct tokens', name: 'toolgate, token cache of 1,000 (every request verifies)', start: toolgate(undefined, undefined, 1000) },
      { id: 'opaMany', scenario: '10,000 distinct tokens', name: 'opa run --server, JWT cache of 1,000 (every request verifies)', start: opaServer(1000), path: '/v1/data/toolgate_bench/decision', wrap: opaWrap, ready: opaReady },
    ];
    const variants = ONLY ? allVariants.filter((v) => ONLY.has(v.id)) : allVariants;
    const results = new Map<string, LoadResult[]>(variants.map((v) => [v.name, []]));
    await alternate(ROUNDS, variants, async (v) => {
      const { child, port } = await servers.start(v.start, v.ready);
      const url = `http://127.0.0.1:${port}${v.path ?? '/v1/decisions'}`;
      const bodies = (v.scenario === 'one cached token' ? one : many).map(v.wrap ?? ((b) => b));
      await assertAllows(url, bodies[0], v.name);
      const run = () => autocannonLoad({ url, bodies, seconds: DURATION, connections: CONNECTIONS });
      await run().catch(() => undefined); // warm-up
      results.get(v.name)!.push(await run());
      await stop(child);
    });
    if (ONLY) {
      for (const v of variants) console.log(`${v.id}: ${results.get(v.name)!.map((r) => `${r.rps.toFixed(0)} req/s (p50 ${r.p50} ms, p99 ${r.p99} ms, errors+non-2xx ${r.failed})`).join('; ')}`);
      return;
    }
    const rpsOf = (id: string) => median(results.get(variants.find((v) => v.id === id)!.name)!.map((r) => r.rps));
    const floor = rpsOf('floor');
    const off = rpsOf('off');
    const rows = variants.map((v) => {
      const rs = results.get(v.name)!;
      const rps = median(rs.map((r) => r.rps));
      const spread = `${Math.min(...rs.map((r) => r.rps)).toFixed(0)}–${Math.max(...rs.map((r) => r.rps)).toFixed(0)}`;
      return `| ${v.scenario} | ${v.name} | ${rps.toFixed(0)} | ${spread} | ${median(rs.map((r) => r.p50)).toFixed(1)} | ${median(rs.map((r) => r.p99)).toFixed(1)} | ${(rps / floor).toFixed(2)} | ${rs.reduce((a, r) => a + r.failed, 0)} |`;
    });
    const on = rpsOf('on');
    const opaOne = rpsOf('opaOne');
    const tgMany = rpsOf('tgMany');
    const opaMany = rpsOf('opaMany');
    const meta = `${machine()}. Servers: toolgate and the floor are one Node process (one event loop); OPA is one Go process with its default GOMAXPROCS (both cores); load: autocannon in this process, ${CONNECTIONS} connections, ${DURATION} s per run after a ${DURATION} s warm-up, ${ROUNDS} alternating rounds, medians. One cached ES256 token, an allowed refunds.create call.`;
    const table = [
      '| tokens | server | req/s (median) | req/s min–max | p50 ms | p99 ms | × floor | errors + non-2xx |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
      ...rows,
    ].join('\n');
    const onNoMask = rpsOf('onNoMask');
    const ratios = `toolgate ÷ OPA server: ${(off / opaOne).toFixed(2)}× with one cached token, ${(tgMany / opaMany).toFixed(2)}× with 10,000 distinct tokens; toolgate ÷ floor: ${(off / floor).toFixed(2)}; the floor with 20 µs of busy work ÷ floor: ${(rpsOf('floor20') / floor).toFixed(2)}; 2 workers ÷ 1: ${(rpsOf('cluster') / off).toFixed(2)}.`;
    const cost = `Decision logging to a file costs ${((1 - on / off) * 100).toFixed(1)}% of throughput over HTTP with the reference mask, ${((1 - onNoMask / off) * 100).toFixed(1)}% without a mask policy.`;
    await report('http', [meta, table, ratios, cost].join('\n\n'));
  } finally {
    await servers.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
