/**
 * In-process micro-benchmarks: request validation, token verification (cold
 * and cached), policy evaluation alone, and the whole decision through
 * DecisionService. Prints a markdown table; `--write` puts it into
 * BENCHMARKS.md between the in-process markers. Numbers, not assertions.
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parseConfig } from '../config/load-config.js';
import { parseDecisionRequest } from '../decision/decision-request.js';
import { DecisionRequestDto } from '../decision/decision.dto.js';
import { DecisionService } from '../decision/decision.service.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { buildPolicyBundle } from '../policy-compiler/policy-builder.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { jsonMatchSchema } from '../evaluator/builtins/json-schema.js';
import { regexFindN, regexReplace } from '../evaluator/builtins/regex.js';
import { AuditService } from '../audit/audit.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { TokenService } from '../token/token.service.js';
import { machine, median, percentile, report } from './report.js';
import { benchIssuer } from './issuer.js';

interface Row {
  name: string;
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

function stats(name: string, samples: number[]): Row {
  return { name, n: samples.length, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

async function timeEach(n: number, fn: (i: number) => unknown | Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

function timeEachSync(n: number, fn: (i: number) => unknown): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

/** Touches 4 MiB of other memory, as the rest of a server does between two decisions. */
const junk = new Float64Array((4 * 1024 * 1024) / 8);
function evictCaches(): void {
  for (let j = 0; j < junk.length; j += 8) junk[j] += 1;
}

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-bench-'));
  const resource = 'http://127.0.0.1:3000/mcp';
  const issuer = 'https://bench.toolgate.test';
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    const config = parseConfig({
      policy: { source: { policies: path.join(root, 'policies'), tests: path.join(root, 'rego-tests'), out: path.join(dir, 'build') } },
      issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [issuer] }],
      token_cache: { max_entries: 100_000 },
      revocation: { file: path.join(dir, 'revocations.json') },
    });
    const logged = parseConfig({
      ...JSON.parse(JSON.stringify({ policy: config.policy, issuers: config.issuers, servers: config.servers })),
      token_cache: { max_entries: 100_000 },
      revocation: { file: path.join(dir, 'revocations.json') },
      decision_logs: { file: { path: path.join(dir, 'decisions.log'), max_bytes: 1024 * 1024 * 1024 } },
    });
    const built = await buildPolicyBundle({ policyDir: config.policy.source.policies, outDir: config.policy.source.out, runTests: false });
    const metrics = new MetricsService();
    const store = new PolicyStore(config);
    await store.attempt({ kind: 'bundle', location: built.bundlePath }, async () => built.files);
    const active = store.current()!;
    const tokens = new TokenService(config, metrics, new RevocationService(config));
    const decisions = new DecisionService(config, store, tokens, metrics, new AuditService(config, metrics));
    const fileAudit = new AuditService(logged, new MetricsService());
    const loggedDecisions = new DecisionService(logged, store, tokens, metrics, fileAudit);
    const sign = (jti: string) => bench.sign({ jti }, '1h');
    const N = Number(process.env.BENCH_N ?? 20_000);
    const COLD = Math.min(N, 5000);
    const coldTokens = await Promise.all(Array.from({ length: COLD }, (_, i) => sign(`cold-${i}`)));
    const hot = await sign('hot');
    const body = { token: hot, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } } };
    const input = {
      claims: { sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' },
      scopes: ['refunds:write'],
      server: 'demo',
      action: 'call',
      tool: { ...body.tool, annotations: {} },
      time: new Date().toISOString(),
    };
    const ctx = { nowNs: Date.now() * 1e6 };
    const server = config.servers[0];
    const rows: Row[] = [];

    // warm-up
    for (let i = 0; i < 2000; i++) active.policy.evaluate(DECISION_ENTRYPOINT, input, ctx);
    for (let i = 0; i < 500; i++) await decisions.decide(parseDecisionRequest(body, config.limits));

    rows.push(stats('validate body: hand-written (decision route)', timeEachSync(N, () => parseDecisionRequest(body, config.limits))));
    rows.push(
      stats(
        'validate body: class-transformer + class-validator',
        timeEachSync(N, () => validateSync(plainToInstance(DecisionRequestDto, body) as object, { whitelist: true, forbidNonWhitelisted: true })),
      ),
    );
    rows.push(stats('token verify, cached (same token)', await timeEach(N, () => tokens.verifier.verify(hot, server))));
    rows.push(stats('policy evaluation alone (wasm)', timeEachSync(N, () => active.policy.evaluate(DECISION_ENTRYPOINT, input, ctx))));
    const coldEval: number[] = [];
    for (let i = 0; i < 5000; i++) {
      evictCaches();
      coldEval.push(...timeEachSync(1, () => active.policy.evaluate(DECISION_ENTRYPOINT, input, ctx)));
    }
    rows.push(stats('policy evaluation alone, after touching 4 MiB of other memory (cold caches)', coldEval));
    rows.push(stats('whole decision, cached token (validate + verify + evaluate)', await timeEach(N, () => decisions.decide(parseDecisionRequest(body, config.limits)))));
    // Host regex and schema builtins, called directly: the per-call cost of the RE2 engine (re2js) and ajv.
    const slug = '^([a-z0-9]{1,20}-?){1,8}$';
    const hostile = `${'a'.repeat(44)}!`;
    const schema = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9-]{3,40}$' }, amount: { type: 'integer', maximum: 100 } }, required: ['id'] };
    rows.push(stats('regex.replace("order-1234-eu", "-", "_") (host builtin, re2js)', timeEachSync(N, () => regexReplace('order-1234-eu', '-', '_'))));
    rows.push(stats('regex.find_n(`^([a-z0-9]{1,20}-?){1,8}$`, 23-char slug, 1) (re2js)', timeEachSync(N, () => regexFindN(slug, 'release-2026-11-eu-west', 1))));
    rows.push(stats('same pattern, 45-char hostile argument (re2js; ~3.4 s on the engine before)', timeEachSync(2000, () => regexFindN(slug, hostile, 1))));
    rows.push(stats('json.match_schema, 2 properties and a pattern (ajv, RE2 patterns)', timeEachSync(N, () => jsonMatchSchema({ id: 'order-1234', amount: 50 }, schema))));
    rows.push(stats('whole decision + decision log to a file (with masking)', await timeEach(N, () => loggedDecisions.decide(parseDecisionRequest(body, config.limits)))));

    // Throughput, logging off vs on: alternating rounds of sequential decisions, median of rounds.
    const rate = async (svc: DecisionService) => {
      const t0 = performance.now();
      for (let i = 0; i < 5000; i++) await svc.decide(parseDecisionRequest(body, config.limits));
      return 5000 / ((performance.now() - t0) / 1000);
    };
    const off: number[] = [];
    const on: number[] = [];
    for (let r = 0; r < 5; r++) {
      off.push(await rate(decisions));
      on.push(await rate(loggedDecisions));
      await fileAudit.flush();
    }
    await fileAudit.onApplicationShutdown();
    const throughput = `Decision throughput in-process, one core, sequential: logging off ${median(off).toFixed(0)}/s, file sink on ${median(on).toFixed(0)}/s (${((1 - median(on) / median(off)) * 100).toFixed(1)}% cost; median of 5 alternating rounds of 5,000).`;

    // Cold verifications last: they leave thousands of cache entries and garbage behind,
    // which slowed every measurement taken after them (see BENCHMARKS.md).
    rows.push(stats('token verify, cold (jose, ES256, distinct tokens)', await timeEach(COLD, (i) => tokens.verifier.verify(coldTokens[i], server))));

    const table = [
      '| measurement | n | p50 µs | p99 µs | mean µs |',
      '|---|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.name} | ${r.n} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.mean.toFixed(1)} |`),
    ].join('\n');
    const meta = `${machine()}, policy revision ${active.revision}, one process, sequential calls.`;
    await report('in-process', [meta, table, throughput].join('\n\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
