/**
 * List filtering and worst-case inputs (issue 24): a list of 1,000 allowed
 * tools filtered through DecisionService (request parsing included) by the
 * reference policy's own list rule, by the wrapper toolgate builds for a
 * policy that defines only `decision`, and item by item; the worst inputs
 * the limits admit (their config defaults: arguments_keys, arguments_nodes,
 * uri_length, tools_per_list, body_bytes), each as one request, and one
 * request just over each limit (what its refusal costs); and the p99 of
 * other callers' decisions over HTTP while each of those requests runs back
 * to back in the same toolgate process. Prints markdown tables; `--write`
 * puts them into BENCHMARKS.md between the list markers. Numbers, not assertions.
 *
 * Parameters (environment): BENCH_LIST_N (1000 tools), BENCH_URI_LENGTH
 * (limits.uri_length), BENCH_ARG_KEYS (limits.arguments_keys),
 * BENCH_BODY_BYTES (limits.body_bytes), BENCH_STALL_S (3 s per worst case).
 */
import 'reflect-metadata';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LimitsConfig } from '../config/config.schema.js';
import { parseConfig } from '../config/load-config.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { parseDecisionRequest, parseListRequest, parseToolsRequest } from '../decision/decision-request.js';
import { DecisionService } from '../decision/decision.service.js';
import { buildPolicyBundle } from '../policy-compiler/policy-builder.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { AuditService } from '../audit/audit.service.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { TokenService } from '../token/token.service.js';
import { benchIssuer } from './issuer.js';
import { envNumber, Servers, spawnToolgate } from './load.js';
import { machine, percentile, report } from './report.js';

const ms = (x: number) => x.toFixed(2);
const TOOLS = ['refunds.create', 'invoices.read', 'issues.create'];

async function timeN(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const root = process.cwd();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-bench-list-'));
  const resource = 'http://127.0.0.1:3000/mcp';
  const issuer = 'https://bench.toolgate.test';
  const limits = new LimitsConfig();
  const N = envNumber('BENCH_LIST_N', Math.min(1000, limits.tools_per_list));
  const uriLength = envNumber('BENCH_URI_LENGTH', limits.uri_length);
  const argKeys = envNumber('BENCH_ARG_KEYS', limits.arguments_keys);
  const bodyBytes = envNumber('BENCH_BODY_BYTES', limits.body_bytes);
  const stallS = envNumber('BENCH_STALL_S', 3);
  const servers = new Servers(envNumber('BENCH_PORT', 18_600));
  const rows: string[] = [];
  try {
    const bench = await benchIssuer(dir, issuer, resource);
    // Every tool visible to the caller: the list's cost, not the denials'.
    const token = await bench.sign({ roles: ['support_agent'] }, '2h');
    const base = {
      issuers: [{ issuer, jwks_file: bench.jwksFile, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [issuer] }],
      revocation: { file: path.join(dir, 'revocations.json') },
    };
    // The reference policy, and a copy that defines only decision (served through the generated wrapper).
    const only = path.join(dir, 'decision-only');
    await cp(path.join(root, 'policies'), only, { recursive: true });
    await rm(path.join(only, 'mcp/authz/list.rego'));
    const service = async (policies: string, out: string) => {
      const config = parseConfig({ ...base, policy: { source: { policies, out } } });
      const built = await buildPolicyBundle({ policyDir: policies, outDir: out, runTests: false });
      const metrics = new MetricsService();
      const store = new PolicyStore(config);
      await store.attempt({ kind: 'bundle', location: built.bundlePath }, async () => built.files);
      const tokens = new TokenService(config, metrics, new RevocationService(config));
      return { config, store, decisions: new DecisionService(config, store, tokens, metrics, new AuditService(config, metrics)) };
    };
    const ref = await service(path.join(root, 'policies'), path.join(dir, 'build-ref'));
    const wrapped = await service(only, path.join(dir, 'build-only'));
    const tools = Array.from({ length: N }, (_, i) => ({ name: TOOLS[i % TOOLS.length], annotations: { readOnlyHint: i % 2 === 0 } }));
    const toolsBody = { token, server: 'demo', tools };
    const filter = (s: typeof ref) => async () => {
      const r = await s.decisions.filterTools(parseToolsRequest(toolsBody, s.config.limits));
      if (r.allowed.length !== N) throw new Error(`expected ${N} allowed tools, got ${r.allowed.length}`);
    };
    rows.push(`| filter ${N} allowed tools (parse + DecisionService, no log) | p50 | p99 | max |`, '|---|---:|---:|---:|');
    for (const [label, s] of [['reference policy, its own list rule (one evaluation)', ref], ['decision only, generated wrapper (one evaluation)', wrapped]] as const) {
      await timeN(200, filter(s));
      const t = await timeN(500, filter(s));
      rows.push(`| ${label} | ${ms(percentile(t, 0.5))} ms | ${ms(percentile(t, 0.99))} ms | ${ms(Math.max(...t))} ms |`);
    }
    // Item by item, as before: the policy alone, one evaluation of decision per tool.
    const policy = ref.store.current()!.policy;
    const claims = { sub: 'alice', roles: ['support_agent'] };
    const oneByOne = async () => {
      for (const t of tools) policy.evaluate(DECISION_ENTRYPOINT, { claims, scopes: [], server: 'demo', action: 'list', kind: 'tool', tool: { name: t.name, arguments: {}, annotations: t.annotations }, time: new Date().toISOString() }, { nowNs: Date.now() * 1e6 });
    };
    await timeN(20, oneByOne);
    const t1 = await timeN(100, oneByOne);
    rows.push(`| item by item (${N} evaluations of decision, policy alone) | ${ms(percentile(t1, 0.5))} ms | ${ms(percentile(t1, 0.99))} ms | ${ms(Math.max(...t1))} ms |`);

    // Worst-case inputs at the limits (the config defaults), and requests just over each limit (the refusal's cost).
    const { arguments_keys: maxKeys, arguments_nodes: maxNodes, uri_length: maxUri, tools_per_list: maxItems } = limits;
    const uriOf = (length: number) => 'invoices://' + '/'.repeat(length - 'invoices://'.length);
    const slashes = uriOf(uriLength);
    // The longest URIs that fit the body, and as many items of the longest length that fit.
    const listCount = Math.min(maxItems, Math.floor((bodyBytes - 1024) / (slashes.length + 12)));
    const fullListUri = Math.min(uriLength, Math.floor((bodyBytes - 1024) / maxItems) - 12);
    const callArgs = { order_id: 'o-1', amount: 5, currency: 'USD' };
    const fixedKeys = Object.keys(callArgs).length;
    const keyed = (keys: number, valuesPerKey = 0) => {
      const args: Record<string, unknown> = { ...callArgs };
      for (let i = 0; i < keys - fixedKeys; i++) args[`k${i}`] = valuesPerKey > 0 ? Array.from({ length: valuesPerKey }, (_, j) => j) : i;
      return args;
    };
    // Keys at their limit, and the rest of the value budget in arrays under them: nodes = 1 + keys × (1 + per key).
    const perKey = Math.floor((maxNodes - 1 - fixedKeys) / (argKeys - fixedKeys)) - 1;
    const keyedNodes = 1 + fixedKeys + (argKeys - fixedKeys) * (1 + perKey);
    const call = (args: Record<string, unknown>) => ({ token, server: 'demo', tool: { name: 'refunds.create', arguments: args } });
    /** A call whose JSON body is exactly `bytes` long (one long string argument; ASCII). */
    const callOfBytes = (bytes: number) => {
      const skeleton = JSON.stringify(call({ ...callArgs, note: '' })).length;
      return call({ ...callArgs, note: 'x'.repeat(bytes - skeleton) });
    };
    const tooManyTools = { token, server: 'demo', tools: Array.from({ length: maxItems + 1 }, (_, i) => tools[i % tools.length]) };
    interface Worst {
      path: string;
      body: Record<string, unknown>;
      /** The refusal expected (400 code); absent: answered 200. */
      refused?: string;
      /** Refused by Fastify before parsing: no in-process row. */
      httpOnly?: boolean;
    }
    const worst: Record<string, Worst> = {
      [`list of ${listCount} resource URIs of ${uriLength} chars, all "/" (fills body_bytes)`]: { path: '/v1/decisions/list', body: { token, server: 'demo', kind: 'resource', items: Array.from({ length: listCount }, () => ({ uri: slashes })) } },
      [`list of ${maxItems} resource URIs of ${fullListUri} chars, all "/" (tools_per_list, fills body_bytes)`]: { path: '/v1/decisions/list', body: { token, server: 'demo', kind: 'resource', items: Array.from({ length: maxItems }, () => ({ uri: uriOf(fullListUri) })) } },
      [`read_resource of one ${uriLength}-char URI, all "/"`]: { path: '/v1/decisions', body: { token, server: 'demo', action: 'read_resource', resource: { uri: slashes } } },
      [`call with ${argKeys} argument keys (arguments_keys)`]: { path: '/v1/decisions', body: call(keyed(argKeys)) },
      [`call with ${argKeys} argument keys holding ${keyedNodes} values (arguments_keys, arguments_nodes)`]: { path: '/v1/decisions', body: call(keyed(argKeys, perKey)) },
      [`list of ${N} allowed tools`]: { path: '/v1/decisions/tools', body: toolsBody },
      [`call of ${bodyBytes} bytes, one long string argument (body_bytes)`]: { path: '/v1/decisions', body: callOfBytes(bodyBytes) },
      [`over: call with ${maxKeys + 1} argument keys`]: { path: '/v1/decisions', body: call(keyed(maxKeys + 1)), refused: 'arguments_too_many_keys' },
      [`over: read_resource of one ${maxUri + 1}-char URI`]: { path: '/v1/decisions', body: { token, server: 'demo', action: 'read_resource', resource: { uri: uriOf(maxUri + 1) } }, refused: 'uri_too_long' },
      [`over: list of ${maxItems + 1} tools`]: { path: '/v1/decisions/tools', body: tooManyTools, refused: 'list_too_long' },
      [`over: call of ${bodyBytes + 1} bytes`]: { path: '/v1/decisions', body: callOfBytes(bodyBytes + 1), refused: 'body_too_large', httpOnly: true },
    };
    const one = (w: Worst) => async () => {
      const lim = ref.config.limits;
      try {
        if (w.path === '/v1/decisions/list') await ref.decisions.filterList(parseListRequest(w.body, lim));
        else if (w.path === '/v1/decisions/tools') await ref.decisions.filterTools(parseToolsRequest(w.body, lim));
        else await ref.decisions.decide(parseDecisionRequest(w.body, lim));
      } catch (e) {
        if (w.refused && (e as { code?: string }).code === w.refused) return;
        throw e;
      }
      if (w.refused) throw new Error(`expected ${w.refused}, the request was decided`);
    };
    rows.push('', '| worst case, one request (parse + DecisionService) | body | answer | p50 | max |', '|---|---:|---|---:|---:|');
    for (const [label, w] of Object.entries(worst)) {
      const size = `${(JSON.stringify(w.body).length / 1024).toFixed(0)} KB`;
      if (w.httpOnly) {
        rows.push(`| ${label} | ${size} | 400 ${w.refused} (Fastify, before parsing: HTTP only, below) | – | – |`);
        continue;
      }
      await timeN(2, one(w));
      const t = await timeN(10, one(w));
      rows.push(`| ${label} | ${size} | ${w.refused ? `400 ${w.refused}` : 'decided'} | ${ms(percentile(t, 0.5))} ms | ${ms(Math.max(...t))} ms |`);
    }

    // Other callers while worst-case requests run back to back: one toolgate process, real HTTP on loopback.
    const { port } = await servers.start((p) => spawnToolgate(root, dir, p, { ...base, policy: { source: { policies: path.join(root, 'policies'), out: path.join(dir, 'build-http') } } }));
    const url = `http://127.0.0.1:${port}`;
    const simple = JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: callArgs } });
    /** Status and code of one POST, or the network error of a connection that closed. */
    const post = async (p: string, body: string): Promise<{ status: number; code?: string } | { error: string }> => {
      try {
        const res = await fetch(url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
        const text = await res.text();
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { code?: string }).code;
        } catch {
          // not JSON
        }
        return { status: res.status, code };
      } catch (e) {
        return { error: `${(e as Error).message} (${String((e as Error).cause)})` };
      }
    };
    /** Simple decisions every 5 ms for `seconds`, latency measured from when each was due (no coordinated omission); failures counted. */
    const others = async (seconds: number): Promise<{ lat: number[]; failed: number }> => {
      const lat: number[] = [];
      let failed = 0;
      const pending: Promise<void>[] = [];
      const start = performance.now();
      for (let i = 0; i < (seconds * 1000) / 5; i++) {
        const due = start + i * 5;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(post('/v1/decisions', simple).then((r) => {
          if ('status' in r && r.status === 200) lat.push(performance.now() - due);
          else failed++;
        }));
      }
      await Promise.all(pending);
      return { lat, failed };
    };
    await others(1);
    rows.push('', `| other callers' simple decisions (1 every 5 ms, HTTP) while this runs back to back | its answer | worst request p50 | others p50 | others p99 | others max | others failed |`, '|---|---|---:|---:|---:|---:|---:|');
    const idle = await others(stallS);
    rows.push(`| nothing (baseline) | – | – | ${ms(percentile(idle.lat, 0.5))} ms | ${ms(percentile(idle.lat, 0.99))} ms | ${ms(Math.max(...idle.lat))} ms | ${idle.failed} |`);
    for (const [label, w] of Object.entries(worst)) {
      const body = JSON.stringify(w.body);
      let running = true;
      const own: number[] = [];
      const answers = new Set<string>();
      const loop = (async () => {
        while (running) {
          const t0 = performance.now();
          const r = await post(w.path, body);
          const answer = 'error' in r ? `connection error: ${r.error}` : `${r.status}${r.code ? ` ${r.code}` : ''}`;
          // An answer other than the expected one is shown in the row (not thrown: the other callers' numbers still count).
          const expected = w.refused ? 'status' in r && r.status === 400 && r.code === w.refused : 'status' in r && r.status === 200;
          answers.add(expected ? answer : `UNEXPECTED ${answer}`);
          own.push(performance.now() - t0);
        }
      })();
      const lat = await others(stallS);
      running = false;
      await loop;
      rows.push(`| ${label} | ${[...answers].join(', ')} | ${ms(percentile(own, 0.5))} ms | ${ms(percentile(lat.lat, 0.5))} ms | ${ms(percentile(lat.lat, 0.99))} ms | ${ms(Math.max(...lat.lat))} ms | ${lat.failed} |`);
    }
  } finally {
    await servers.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  const text = [
    `Method: ${machine()}. \`node dist/bench/list.js\`; the list rows time parseToolsRequest + DecisionService.filterTools in process (token cached, decision log off), after 200 warm-up runs; worst cases use the limits' defaults (LimitsConfig: arguments_keys ${limits.arguments_keys}, arguments_nodes ${limits.arguments_nodes}, uri_length ${limits.uri_length}, tools_per_list ${limits.tools_per_list}, body_bytes ${limits.body_bytes}; this run: ${argKeys} keys, ${uriLength}-char URIs, ${bodyBytes}-byte bodies), and "over:" rows are one past a limit (the refusal's cost); the last table runs one toolgate process (workers: 1) and measures from each request's due time.`,
    '',
    ...rows,
  ].join('\n');
  await report('list', text);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
