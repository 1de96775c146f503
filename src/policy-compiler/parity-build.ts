import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readBundleArchive, type BundleFiles } from './bundle-archive.js';
import { PolicyBuildError } from './errors.js';
import type { TopdownTest } from './opa-test-results.js';
import { displayPath } from './opa-test-results.js';
import { parseOpaProblems, runOpa } from './opa-cli.js';

/** Where and how to compile the tests for the parity check. */
export interface TestBuildOptions {
  policyDir: string;
  testDir: string;
  /** Scratch directory, owned by this build. */
  workDir: string;
  /** The runtime's capabilities file, the same one the production build uses. */
  capabilities: string;
  opaBinary?: string;
  timeoutMs?: number;
}

/** The compiled tests, and the tests that could not be compiled with the reason. */
export interface TestBuild {
  files?: BundleFiles;
  excluded: Map<TopdownTest, string>;
  /** Non-test rules of the test directory that were left out, and why. */
  notes: string[];
}

interface RuleSpan {
  startLine: number;
  endLine: number;
  text: string;
}

/** Entrypoint of a test rule in a wasm build: `mcp/authz_test/test_allowed`, or undefined when the path is not plain. */
export function testEntrypoint(t: Pick<TopdownTest, 'package' | 'name'>): string | undefined {
  const ident = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
  const pkg = t.package.replace(/^data\./, '');
  if (!t.package.startsWith('data.') || !ident.test(pkg) || !ident.test(t.name)) return undefined;
  return `${pkg}.${t.name}`.replaceAll('.', '/');
}

/** Start and end lines and text of every rule in a Rego file, from `opa parse` with locations. */
async function ruleSpans(file: string, opts: TestBuildOptions): Promise<RuleSpan[]> {
  const r = await runOpa(['parse', '--format', 'json', '--json-include', 'locations,-comments', file], {
    opaBinary: opts.opaBinary,
    timeoutMs: opts.timeoutMs,
  });
  if (r.code !== 0) return [];
  const ast = JSON.parse(r.stdout) as { rules?: { location?: { row?: number; text?: string } }[] };
  const spans: RuleSpan[] = [];
  for (const rule of ast.rules ?? []) {
    const row = rule.location?.row;
    const text = Buffer.from(rule.location?.text ?? '', 'base64').toString('utf8');
    if (!row || !text) continue;
    spans.push({ startLine: row, endLine: row + text.split('\n').length - 1, text });
  }
  return spans;
}

/** Replaces a rule's text with spaces, keeping every newline so all other file:line positions stay put. */
function blank(content: string, span: RuleSpan): string {
  const lines = content.split('\n');
  const lineStart = lines.slice(0, span.startLine - 1).reduce((n, l) => n + l.length + 1, 0);
  let from = content.indexOf(span.text, lineStart);
  let to = from + span.text.length;
  if (from < 0) {
    from = lineStart;
    to = lines.slice(0, span.endLine).reduce((n, l) => n + l.length + 1, 0) - 1;
  }
  return content.slice(0, from) + content.slice(from, to).replace(/[^\n]/g, ' ') + content.slice(to);
}

const MAX_ROUNDS = 20;

/** OPA's wording for a mocked builtin the runtime lacks does not say so; this does. */
function hint(message: string): string {
  if (/with keyword target must reference existing/.test(message)) {
    return ' (a `with` that replaces a function the runtime does not have, e.g. http.send: it is not in the capabilities)';
  }
  if (/undefined function/.test(message)) return ' (the function is not in the runtime\'s capabilities)';
  return '';
}

/**
 * Compiles the policy and its tests to one wasm module with every test rule as
 * an entrypoint, with the runtime's capabilities. The compiler type-checks the
 * whole program, so one test the wasm target cannot compile (say, one that
 * mocks `http.send`) fails the build for all; such a test is cut out of a
 * scratch copy of the test directory (its text blanked, lines kept) and the
 * build retried, so every other test is still checked. A non-test rule that
 * fails is cut out the same way; the tests that used it fail the next round
 * and are excluded with their own reason. A failure no test accounts for
 * throws PolicyBuildError (step `parity`): the gate fails closed.
 */
export async function buildTestWasm(opts: TestBuildOptions, tests: Map<string, TopdownTest>): Promise<TestBuild> {
  const excluded = new Map<TopdownTest, string>();
  const notes: string[] = [];
  const copyDir = path.join(opts.workDir, 'tests');
  let testRoot = opts.testDir;
  const spans = new Map<string, RuleSpan[]>();
  const cut: { file: string; line: number }[] = [];
  const exclude = (t: TopdownTest, reason: string) => {
    if (!excluded.has(t)) excluded.set(t, reason);
  };

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const entrypoints = [...tests].filter(([, t]) => !excluded.has(t)).map(([ep]) => ep);
    if (entrypoints.length === 0) return { excluded, notes };
    const out = path.join(opts.workDir, 'tests.tar.gz');
    const args = ['build', '-t', 'wasm', '--capabilities', path.resolve(opts.capabilities), ...entrypoints.flatMap((e) => ['-e', e])];
    const r = await runOpa([...args, '-o', out, opts.policyDir, testRoot], { cwd: opts.workDir, opaBinary: opts.opaBinary, timeoutMs: opts.timeoutMs });
    if (r.code === 0) return { files: readBundleArchive(await readFile(out)), excluded, notes };

    const problems = parseOpaProblems(r.stdout + r.stderr);
    const builtFrom = testRoot;
    if (testRoot === opts.testDir) {
      await cp(opts.testDir, copyDir, { recursive: true });
      testRoot = copyDir;
    }
    const edits = new Map<string, string>();
    const cutThisRound: { file: string; line: number }[] = [];
    let progress = false;
    for (const p of problems) {
      if (!p.file || !p.line) continue;
      const rel = path.relative(builtFrom, path.resolve(opts.workDir, p.file));
      if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
      const copy = path.join(copyDir, rel);
      const original = path.join(opts.testDir, rel);
      const where = `${displayPath(original)}:${p.line}`;
      if (!spans.has(copy)) spans.set(copy, await ruleSpans(copy, opts));
      const span = spans.get(copy)!.find((s) => s.startLine <= p.line! && p.line! <= s.endLine);
      if (!span) {
        // Outside any rule (an import, the package line): the whole file goes.
        for (const t of tests.values()) if (t.absFile === original) exclude(t, `${where}: ${p.message}`);
        await rm(copy, { force: true });
        edits.delete(copy);
        notes.push(`${displayPath(original)} left out of the parity build: ${where}: ${p.message}`);
        progress = true;
        continue;
      }
      const owners = [...tests.values()].filter((t) => t.absFile === original && t.line === span.startLine);
      // A test failing only after helpers were cut most likely used one: say which (same file first).
      const near = cut.filter((c) => c.file === original);
      const shown = (near.length > 0 ? near : cut).map((c) => `the rule at ${displayPath(c.file)}:${c.line}`);
      const why = shown.length > 0 ? `; the parity build had left out ${shown.join(', ')}` : hint(p.message);
      for (const t of owners) exclude(t, `${where}: ${p.message}${why}`);
      if (owners.length === 0) {
        notes.push(`rule at ${displayPath(original)}:${span.startLine} left out of the parity build: ${where}: ${p.message}`);
        cutThisRound.push({ file: original, line: span.startLine });
      }
      const content = edits.get(copy) ?? (await readFile(copy, 'utf8').catch(() => undefined));
      if (content === undefined) continue;
      const next = blank(content, span);
      if (next !== content) progress = true;
      edits.set(copy, next);
    }
    for (const [file, content] of edits) await writeFile(file, content);
    cut.push(...cutThisRound);
    if (!progress) {
      // Not caused by a test (the policy itself, the toolchain): the gate cannot run, so it refuses.
      const located = problems.map((p) => (p.file ? { ...p, file: displayPath(path.resolve(opts.workDir, p.file)) } : p));
      const first = located.find((p) => p.file) ?? located[0];
      const why = first ? `${first.file ? `${first.file}:${first.line}: ` : ''}${first.message}` : (r.stdout + r.stderr).trim().slice(0, 500);
      throw new PolicyBuildError('policy_parity_error', 'parity', `the Rego tests could not be compiled to wasm for the parity check: ${why}`, located);
    }
  }
  throw new PolicyBuildError('policy_parity_error', 'parity', `the Rego tests still did not compile to wasm after leaving tests out ${MAX_ROUNDS} times`);
}
