import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { describeThrown } from '../common/errors.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { PolicyBuildError } from './errors.js';
import { testLabel, type TopdownTest } from './opa-test-results.js';
import { buildTestWasm, testEntrypoint, type TestBuildOptions } from './parity-build.js';

/** How one test (or one case of a table-driven test) fared in the parity check. */
export interface ParityOutcome {
  /** `data.pkg.test_x` or `data.pkg.test_x["case"]`. */
  test: string;
  file: string;
  line: number;
  /** passed: true under both engines; diverged: true under `opa test` only; not_checked: could not run under wasm. */
  status: 'passed' | 'diverged' | 'not_checked';
  /** What `opa test` (topdown) gave. */
  topdown: string;
  /** What the compiled wasm gave: `true`, `false`, `undefined`, `error: …` or the value. */
  wasm?: string;
  /** Why a test was not checked. */
  reason?: string;
}

/** Every outcome of one parity check, and what it cost. */
export interface ParityReport {
  outcomes: ParityOutcome[];
  passed: number;
  diverged: number;
  notChecked: number;
  /** Non-test rules of the test directory the wasm build had to leave out. */
  notes: string[];
  /** Wall time of the check: wasm build of the tests plus their evaluation. */
  ms: number;
}

/** A loaded test build: evaluates one entrypoint with no input, as `opa test` does. */
export interface TestEvaluator {
  evaluate(entrypoint: string): unknown;
}

/** Loads a compiled test build into the runtime under test. */
export type ParityRuntime = (wasm: Uint8Array, data: object) => Promise<TestEvaluator>;

/** The runtime production answers with: toolgate's WasmPolicy and its host builtins. */
export const productionRuntime: ParityRuntime = async (wasm, data) => {
  const policy = await WasmPolicy.load(wasm, data);
  return { evaluate: (entrypoint) => policy.evaluate(entrypoint, undefined, { nowNs: Date.now() * 1e6 }) };
};

/** Inputs of one parity check. */
export interface ParityOptions extends Omit<TestBuildOptions, 'workDir'> {
  /** Where a scratch directory for the test build is made (removed afterwards). */
  outDir: string;
  /** `opa test --format json` results of the same policy and tests. */
  tests: TopdownTest[];
  runtime?: ParityRuntime;
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function leaves(v: Record<string, unknown>, prefix: string[] = []): [string[], unknown][] {
  return Object.entries(v).flatMap(([k, x]) => (isObject(x) ? leaves(x, [...prefix, k]) : [[[...prefix, k], x] as [string[], unknown]]));
}

/** Compares one test's wasm value with what `opa test` reported, case by case for table-driven tests. */
function compare(t: TopdownTest, value: unknown, failure?: string): ParityOutcome[] {
  const base = { file: t.file, line: t.line, topdown: 'true' };
  const plain = (wasm: string, ok: boolean): ParityOutcome => ({ ...base, test: testLabel(t), status: ok ? 'passed' : 'diverged', wasm });
  // A test rule written `test_x[note] if …` is a partial object: one key per case, each true.
  if (failure !== undefined || !isObject(value)) {
    const wasm = failure !== undefined ? `error: ${failure}` : show(value);
    if (!t.cases) return [plain(wasm, failure === undefined && value === true)];
    return t.cases.map((c) => ({ ...base, test: testLabel(t, c.path), status: 'diverged', wasm }));
  }
  const got = new Map(leaves(value).map(([p, x]) => [JSON.stringify(p), x]));
  const out: ParityOutcome[] = [];
  for (const c of t.cases ?? []) {
    const key = JSON.stringify(c.path);
    const x = got.get(key);
    got.delete(key);
    out.push({ ...base, test: testLabel(t, c.path), status: x === true ? 'passed' : 'diverged', wasm: show(x) });
  }
  for (const [key, x] of got) {
    out.push({ ...base, test: testLabel(t, JSON.parse(key) as string[]), topdown: 'no such case', status: 'diverged', wasm: show(x) });
  }
  // Both engines produced an empty table: nothing failed, as opa test sees it.
  return out.length > 0 ? out : [plain(show(value), true)];
}

/**
 * The parity gate: runs every `test_*` rule that passed under `opa test`
 * (OPA's topdown interpreter) once more through the policy compiled to wasm
 * and loaded by the runtime production uses, and reports each test (each case
 * of a table-driven test) as passed, diverged, or not checked with a reason.
 */
export async function checkParity(opts: ParityOptions): Promise<ParityReport> {
  const t0 = performance.now();
  const outcomes: ParityOutcome[] = [];
  const notChecked = (t: TopdownTest, reason: string) =>
    outcomes.push({ test: testLabel(t), file: t.file, line: t.line, status: 'not_checked', topdown: 'true', reason });
  const byEntrypoint = new Map<string, TopdownTest>();
  const repeated = new Set(opts.tests.filter((t) => t.name.includes('#')).map((t) => `${t.package}.${t.name.split('#')[0]}`));
  for (const t of opts.tests) {
    if (t.outcome !== 'pass') continue;
    const ep = testEntrypoint(t);
    if (repeated.has(`${t.package}.${t.name.split('#')[0]}`)) {
      notChecked(t, 'the test name is defined more than once: opa test runs each definition alone, the compiled policy merges them');
    } else if (!ep) {
      notChecked(t, 'the test rule path is not a plain dotted name, so it cannot be a wasm entrypoint');
    } else {
      byEntrypoint.set(ep, t);
    }
  }

  let notes: string[] = [];
  if (byEntrypoint.size > 0) {
    await mkdir(opts.outDir, { recursive: true });
    const workDir = await mkdtemp(path.join(opts.outDir, 'parity-'));
    try {
      const built = await buildTestWasm({ ...opts, workDir }, byEntrypoint);
      notes = built.notes;
      for (const [t, reason] of built.excluded) notChecked(t, `cannot compile to wasm: ${reason}`);
      const wasm = built.files?.get('/policy.wasm');
      if (built.files && wasm) {
        const data = JSON.parse(built.files.get('/data.json')?.toString('utf8') ?? '{}') as object;
        let evaluator: TestEvaluator | undefined;
        let loadError = '';
        try {
          evaluator = await (opts.runtime ?? productionRuntime)(wasm, data);
        } catch (e) {
          loadError = describeThrown(e);
        }
        for (const [ep, t] of byEntrypoint) {
          if (built.excluded.has(t)) continue;
          if (!evaluator) {
            notChecked(t, `the runtime could not load the test build: ${loadError}`);
            continue;
          }
          let value: unknown;
          let failure: string | undefined;
          try {
            value = evaluator.evaluate(ep);
          } catch (e) {
            failure = describeThrown(e);
          }
          outcomes.push(...compare(t, value, failure));
        }
      }
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
  outcomes.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.test.localeCompare(b.test));
  const count = (s: ParityOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  return { outcomes, passed: count('passed'), diverged: count('diverged'), notChecked: count('not_checked'), notes, ms: performance.now() - t0 };
}

/** One line per diverged or unchecked test, for the CLI and the log. */
export function describeOutcome(o: ParityOutcome): string {
  const where = `${o.test} (${o.file}:${o.line})`;
  return o.status === 'not_checked'
    ? `${where}: parity: not checked (${o.reason})`
    : `${where}: parity: ${o.status}: topdown ${o.topdown}, wasm ${o.wasm}`;
}

/** `parity: 42 passed, 0 diverged, 1 not checked (123 ms)`. */
export function paritySummary(r: ParityReport): string {
  return `parity: ${r.passed} passed, ${r.diverged} diverged, ${r.notChecked} not checked (${Math.round(r.ms)} ms)`;
}

/**
 * Refuses a policy with a test that `opa test` passes and the wasm runtime
 * does not: the error names every such test, its file:line, and both results.
 */
export function assertParity(r: ParityReport): void {
  const bad = r.outcomes.filter((o) => o.status === 'diverged');
  if (bad.length === 0) return;
  const first = bad[0];
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more)` : '';
  throw new PolicyBuildError(
    'policy_parity_failed',
    'parity',
    `a Rego test passes under opa test but not under the compiled wasm: ${first.test} at ${first.file}:${first.line}: topdown ${first.topdown}, wasm ${first.wasm}${more}`,
    bad.map((o) => ({ file: o.file, line: o.line, message: `${o.test}: topdown ${o.topdown}, wasm ${o.wasm}` })),
  );
}
