import path from 'node:path';
import { PolicyBuildError, type PolicyProblem } from './errors.js';
import { parseOpaProblems, runOpa } from './opa-cli.js';

/** One case of a table-driven test (`test_x[note] if { … }`), as `opa test` reports it. */
export interface TopdownCase {
  /** The case's keys from the test rule's object, outermost first. */
  path: string[];
  pass: boolean;
}

/** One `test_*` rule as OPA's topdown interpreter (`opa test`) judged it. */
export interface TopdownTest {
  /** Package path as OPA prints it, e.g. `data.mcp.authz_test`. */
  package: string;
  /** Rule name (a ref head's ground prefix), e.g. `test_allowed`; OPA appends `#01` to a repeated name. */
  name: string;
  /** Absolute path of the file that defines the rule. */
  absFile: string;
  /** The same file for messages: relative to the working directory when inside it. */
  file: string;
  line: number;
  outcome: 'pass' | 'fail' | 'error' | 'skip';
  error?: string;
  /** Cases of a table-driven test; absent for a plain test. */
  cases?: TopdownCase[];
}

interface RawSubResult {
  name?: string;
  fail?: boolean;
  sub_results?: Record<string, RawSubResult>;
}

interface RawResult {
  location?: { file?: string; row?: number };
  package?: string;
  name?: string;
  fail?: boolean;
  skip?: boolean;
  error?: unknown;
  sub_results?: Record<string, RawSubResult>;
}

/** A path for messages: relative to the working directory when inside it, else absolute. */
export function displayPath(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

function flattenCases(subs: Record<string, RawSubResult>, prefix: string[], out: TopdownCase[]): void {
  for (const [key, sub] of Object.entries(subs)) {
    const p = [...prefix, sub.name ?? key];
    if (sub.sub_results && Object.keys(sub.sub_results).length > 0) flattenCases(sub.sub_results, p, out);
    else out.push({ path: p, pass: !sub.fail });
  }
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return JSON.stringify(e);
}

/**
 * Reads `opa test --format json` output: one entry per test rule with its
 * file:line and outcome. Returns undefined when the output is not that JSON
 * (e.g. OPA reported a parse or compile error in plain text instead).
 */
export function parseOpaTestJson(stdout: string, cwd: string): TopdownTest[] | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  if (!Array.isArray(raw)) return undefined;
  const tests: TopdownTest[] = [];
  for (const r of raw as RawResult[]) {
    if (!r || typeof r !== 'object' || typeof r.name !== 'string') return undefined;
    const absFile = path.resolve(cwd, r.location?.file ?? '');
    const outcome = r.skip ? 'skip' : r.error !== undefined ? 'error' : r.fail ? 'fail' : 'pass';
    const test: TopdownTest = {
      package: r.package ?? '',
      name: r.name,
      absFile,
      file: displayPath(absFile),
      line: r.location?.row ?? 0,
      outcome,
    };
    if (r.error !== undefined) test.error = errorText(r.error);
    if (r.sub_results && Object.keys(r.sub_results).length > 0) {
      test.cases = [];
      flattenCases(r.sub_results, [], test.cases);
    }
    tests.push(test);
  }
  return tests.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.name.localeCompare(b.name));
}

/** `data.pkg.test_x["case"]`: how a test, or one case of it, is named in messages. */
export function testLabel(t: Pick<TopdownTest, 'package' | 'name'>, casePath: string[] = []): string {
  return `${t.package}.${t.name}${casePath.map((k) => `[${JSON.stringify(k)}]`).join('')}`;
}

/** The tests (and cases) `opa test` did not pass, as located problems for an activation failure. */
export function topdownFailures(tests: TopdownTest[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const t of tests) {
    if (t.outcome === 'pass' || t.outcome === 'skip') continue;
    const failedCases = (t.cases ?? []).filter((c) => !c.pass);
    const what = t.outcome === 'error' ? `ERROR: ${t.error ?? 'evaluation error'}` : 'FAIL';
    if (failedCases.length === 0) problems.push({ file: t.file, line: t.line, message: `${testLabel(t)}: ${what}` });
    for (const c of failedCases) problems.push({ file: t.file, line: t.line, message: `${testLabel(t, c.path)}: ${what}` });
  }
  return problems;
}

/** Inputs of one `opa test` run. */
export interface RegoTestOptions {
  policyDir: string;
  testDir: string;
  /** Minimum coverage percentage; checked (in a run of its own) only when set. */
  coverageThreshold?: number;
  opaBinary?: string;
  timeoutMs?: number;
}

function testsFailed(summary: string, problems: PolicyProblem[]): never {
  throw new PolicyBuildError('policy_tests_failed', 'test', `policy tests failed: ${summary}`, problems);
}

/**
 * The test gate: `opa test --format json` over the policy and test
 * directories, once. Throws PolicyBuildError (step `test`) naming every
 * failing test and case with file:line; returns the per-test results, which
 * the parity check reuses.
 */
export async function runRegoTests(opts: RegoTestOptions): Promise<TopdownTest[]> {
  const run = (args: string[]) => runOpa(args, { cwd: opts.policyDir, opaBinary: opts.opaBinary, timeoutMs: opts.timeoutMs });
  if (opts.coverageThreshold !== undefined) {
    // With --coverage, --format json prints the coverage report instead of the results: a run of its own.
    const cov = await run(['test', opts.policyDir, opts.testDir, '--coverage', '--threshold', String(opts.coverageThreshold)]);
    if (cov.code !== 0) {
      const out = cov.stdout + cov.stderr;
      const lines = out.split('\n').filter((l) => /FAIL|ERROR|rego_|Code coverage threshold/.test(l)).slice(0, 20);
      testsFailed(lines.join('; ') || out.trim().slice(0, 500), parseOpaProblems(lines.join('\n'), opts.policyDir));
    }
  }
  const r = await run(['test', opts.policyDir, opts.testDir, '--format', 'json']);
  const tests = parseOpaTestJson(r.stdout, opts.policyDir);
  if (!tests) {
    // Not results: OPA could not load or compile the modules, and said where in plain text.
    const problems = parseOpaProblems(r.stdout + r.stderr).map((p) => (p.file ? { ...p, file: displayPath(path.resolve(opts.policyDir, p.file)) } : p));
    const first = problems.find((p) => p.file) ?? problems[0];
    testsFailed(first ? `${first.file ? `${first.file}:${first.line}: ` : ''}${first.message}` : (r.stdout + r.stderr).trim().slice(0, 500), problems);
  }
  const failures = topdownFailures(tests);
  if (failures.length > 0) {
    const shown = failures.slice(0, 20).map((p) => `${p.message} at ${p.file}:${p.line}`);
    testsFailed(shown.join('; ') + (failures.length > 20 ? `; and ${failures.length - 20} more` : ''), failures);
  }
  if (r.code !== 0) testsFailed((r.stderr || r.stdout).trim().slice(0, 500), parseOpaProblems(r.stderr));
  return tests;
}
