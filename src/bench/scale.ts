/**
 * Policy evaluation against OPA's own evaluator, and how evaluation scales with
 * the catalog: the reference policy with 100, 1,000 and 10,000 tools (and 1,000
 * roles mapped from scopes), evaluated in toolgate's wasm evaluator and with
 * `opa bench` (OPA's Go evaluator) on the same policy and input. Memory is the
 * wasm instance's linear memory after loading the data. `--write` fills the
 * scale markers of BENCHMARKS.md.
 */
import 'reflect-metadata';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { runOpa } from '../policy-compiler/opa-cli.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { buildPolicyBundle } from '../policy-compiler/policy-builder.js';
import { machine, percentile, report } from './report.js';

interface Catalog {
  scope_roles: Record<string, string[]>;
  servers: { demo: { tools: Record<string, unknown> } };
}

async function main(): Promise<void> {
  const root = process.cwd();
  const base = JSON.parse(await readFile(path.join(root, 'policies/catalog/data.json'), 'utf8')) as Catalog;
  const rows: string[] = [];
  const input = {
    claims: { iss: 'https://bench', sub: 'alice', aud: 'http://127.0.0.1:3000/mcp', roles: ['support_agent'], scope: 'refunds:write', jti: 'j', iat: 1, exp: 2 },
    scopes: ['refunds:write'],
    server: 'demo',
    action: 'call',
    tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' }, annotations: {} },
    time: '2026-11-26T00:00:00Z',
  };
  const results: { tools: number; p50: number; p99: number; opa: number; memMiB: number }[] = [];
  for (const tools of [100, 1000, 10_000]) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-scale-'));
    try {
      await cp(path.join(root, 'policies'), path.join(dir, 'policies'), { recursive: true });
      const catalog: Catalog = JSON.parse(JSON.stringify(base));
      for (let r = 0; r < 1000; r++) catalog.scope_roles[`role:generated-${r}`] = [`generated_role_${r}`];
      const template = base.servers.demo.tools['refunds.create'] as { roles: string[] };
      for (let t = Object.keys(catalog.servers.demo.tools).length; t < tools; t++) {
        catalog.servers.demo.tools[`generated.tool_${t}`] = { ...template, roles: [`generated_role_${t % 1000}`, 'finance'] };
      }
      await writeFile(path.join(dir, 'policies/catalog/data.json'), JSON.stringify(catalog));
      const built = await buildPolicyBundle({ policyDir: path.join(dir, 'policies'), outDir: path.join(dir, 'build'), runTests: false });
      const policy = await WasmPolicy.load(built.files.get('/policy.wasm')!, JSON.parse(built.files.get('/data.json')!.toString('utf8')));
      const ctx = { nowNs: Date.now() * 1e6 };
      const check = policy.evaluate(DECISION_ENTRYPOINT, input, ctx) as { allow: boolean };
      if (check.allow !== true) throw new Error(`the scaled policy did not allow the call (${tools} tools)`);
      for (let i = 0; i < 2000; i++) policy.evaluate(DECISION_ENTRYPOINT, input, ctx);
      const samples: number[] = [];
      for (let i = 0; i < 10_000; i++) {
        const t0 = process.hrtime.bigint();
        policy.evaluate(DECISION_ENTRYPOINT, input, ctx);
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      const memMiB = (policy as unknown as { loaded: { mem: { buffer: ArrayBuffer } } }).loaded.mem.buffer.byteLength / (1024 * 1024);
      await writeFile(path.join(dir, 'input.json'), JSON.stringify(input));
      const bench = await runOpa(['bench', '--format', 'json', '--benchmem=false', '-d', path.join(dir, 'policies'), '-i', path.join(dir, 'input.json'), 'data.mcp.authz.decision'], { timeoutMs: 300_000 });
      if (bench.code !== 0) throw new Error(`opa bench failed: ${bench.stderr}`);
      const b = JSON.parse(bench.stdout) as { N: number; T: number };
      results.push({ tools, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), opa: b.T / b.N / 1000, memMiB });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  for (const r of results) {
    rows.push(`| ${r.tools.toLocaleString('en-US')} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.memMiB.toFixed(1)} | ${r.opa.toFixed(1)} |`);
  }
  const growth = results[2].p50 / results[0].p50;
  const meta = `${machine()}. One allowed refunds.create call; 1,000 extra roles mapped from scopes in every row; wasm timings per call after a warm-up (10,000 calls); opa bench (OPA's Go evaluator, same policy and input) reports its mean per operation.`;
  const table = [
    '| tools in the catalog | toolgate wasm eval p50 µs | p99 µs | wasm memory MiB | opa bench mean µs/op |',
    '|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  const summary = `100 → 10,000 tools: toolgate's evaluation p50 grows ${growth.toFixed(2)}×.`;
  await report('scale', [meta, table, summary].join('\n\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
