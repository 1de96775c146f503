import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeThrown } from '../common/errors.js';
import { PolicyEvalError } from '../evaluator/errors.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { readBundleArchive } from '../policy-compiler/bundle-archive.js';
import { runOpa } from '../policy-compiler/opa-cli.js';
import type { ComplianceCase } from './cases.js';

/** Outcome of one case. */
export type CaseOutcome = { status: 'passed' } | { status: 'failed'; reason: string } | { status: 'skipped'; reason: string };

const WRAPPER_PKG = 'conformance_wrapper';
const ENTRYPOINT = `${WRAPPER_PKG}/results`;
const RESERVED = '__tg_results';

function varsOf(c: ComplianceCase): string[] {
  const vars = new Set<string>();
  for (const row of c.want_result ?? []) for (const k of Object.keys(row ?? {})) vars.add(k);
  return [...vars].sort();
}

/**
 * The case's query as a rule `opa build -t wasm` can compile: the array of
 * binding objects, in evaluation order, evaluated with the case's input term
 * when it has one (input terms can be sets, which JSON input cannot carry).
 */
export function wrapperModule(c: ComplianceCase): string {
  const vars = varsOf(c);
  const binding = `{${vars.map((v) => `${JSON.stringify(v)}: ${v}`).join(', ')}}`;
  const query = c.query
    .split('\n')
    .map((l) => l.trim().replace(/;$/, ''))
    .filter(Boolean)
    .join('; ');
  const body = `${RESERVED} := [__tg_b | ${query}; __tg_b := ${binding}]`;
  const withInput = c.input_term ? ` with input as ${c.input_term}` : '';
  return `package ${WRAPPER_PKG}\n\nresults := ${RESERVED} if {\n\t${body}${withInput}\n}\n`;
}

/** Compiled case: the bundle's wasm, or the compiler's error output. */
type Compiled = { wasm: Buffer } | { error: string };

/** Compiles cases with the real `opa build -t wasm`, caching results by content hash. */
export class CaseCompiler {
  /** Identical cases compile once, even when they arrive concurrently. */
  private readonly inflight = new Map<string, Promise<Compiled>>();

  constructor(
    private readonly capsPath: string,
    private readonly cacheDir: string,
    private readonly capsKey: string,
  ) {}

  compile(c: ComplianceCase): Promise<Compiled> {
    const modules = [...(c.modules ?? []), wrapperModule(c)];
    const key = createHash('sha256').update(this.capsKey).update('\0').update(modules.join('\0---\0')).digest('hex').slice(0, 32);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.compileUncached(modules, key);
      this.inflight.set(key, p);
    }
    return p;
  }

  private async compileUncached(modules: string[], key: string): Promise<Compiled> {
    const wasmFile = path.join(this.cacheDir, `${key}.wasm`);
    const errFile = path.join(this.cacheDir, `${key}.err`);
    if (existsSync(wasmFile)) return { wasm: await readFile(wasmFile) };
    if (existsSync(errFile)) return { error: await readFile(errFile, 'utf8') };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-case-'));
    try {
      await Promise.all(modules.map((m, i) => writeFile(path.join(dir, `m${i}.rego`), m)));
      const out = path.join(dir, 'bundle.tar.gz');
      const run = await runOpa(['build', '-t', 'wasm', '-e', ENTRYPOINT, '--capabilities', this.capsPath, '-o', out, ...modules.map((_, i) => `m${i}.rego`)], { cwd: dir, timeoutMs: 120_000 });
      let result: Compiled;
      if (run.code !== 0) {
        result = { error: (run.stdout + run.stderr).trim() || `opa build exited ${run.code}` };
        if (!/timed out|killed|ENOMEM/i.test(result.error)) await atomicWrite(errFile, result.error);
      } else {
        const wasm = readBundleArchive(await readFile(out)).get('/policy.wasm');
        if (!wasm) return { error: 'bundle without policy.wasm' };
        await atomicWrite(wasmFile, wasm);
        result = { wasm };
      }
      return result;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** Cache files appear whole or not at all: another runner may read them at any moment. */
async function atomicWrite(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Sorts object keys recursively so deep comparison ignores key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
  return JSON.stringify(v);
}

/** Sets have no JSON form; OPA and the wasm runtime both emit them as arrays, possibly in different orders. */
function canonicalLoose(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalLoose).sort().join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalLoose((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return canonical(v);
}

function sameRows(got: unknown[], want: unknown[]): boolean {
  if (got.length !== want.length) return false;
  const a = got.map(canonical).sort();
  const b = want.map(canonical).sort();
  if (a.every((x, i) => x === b[i])) return true;
  const la = got.map(canonicalLoose).sort();
  const lb = want.map(canonicalLoose).sort();
  return la.every((x, i) => x === lb[i]);
}

const NOW_NS = Date.parse('2026-01-01T00:00:00Z') * 1e6;

/** Runs one compiled case through toolgate's evaluator and compares with what OPA expects. */
export async function judge(c: ComplianceCase, compiled: Compiled): Promise<CaseOutcome> {
  const wantsError = c.want_error !== undefined || c.want_error_code !== undefined;
  // A strict builtin error is, in OPA's default non-strict mode (the only mode under
  // wasm), an undefined expression: the query must come out undefined (or fail).
  const nonStrict = wantsError && c.strict_error === true;
  if ('error' in compiled) {
    if (wantsError && !nonStrict) {
      const code = c.want_error_code;
      if (!code || compiled.error.includes(code) || /rego_\w+_error/.test(compiled.error)) return { status: 'passed' };
    }
    return { status: 'failed', reason: `build failed: ${compiled.error.split('\n').slice(0, 3).join(' | ')}` };
  }
  let policy: WasmPolicy;
  try {
    policy = await WasmPolicy.load(compiled.wasm, c.data && typeof c.data === 'object' && !Array.isArray(c.data) ? c.data : {}, { maxMemoryPages: 16384 });
  } catch (e) {
    return { status: 'failed', reason: `load failed: ${describeThrown(e)}` };
  }
  let out: unknown;
  try {
    out = policy.evaluate(ENTRYPOINT, c.input, { nowNs: NOW_NS });
  } catch (e) {
    if (wantsError) return { status: 'passed' };
    const msg = e instanceof PolicyEvalError ? `${e.code}: ${e.message}` : describeThrown(e);
    return { status: 'failed', reason: `evaluation error: ${msg}` };
  }
  const rows = Array.isArray(out) ? out : [];
  if (nonStrict) {
    return rows.length === 0 ? { status: 'passed' } : { status: 'failed', reason: `non-strict: expected undefined (strict mode errors with ${c.want_error_code ?? 'an error'}), got ${JSON.stringify(rows).slice(0, 200)}` };
  }
  if (wantsError) return { status: 'failed', reason: `expected error ${c.want_error_code ?? ''} "${c.want_error ?? ''}", got ${rows.length} result(s)` };
  if (c.want_defined !== undefined) {
    return rows.length > 0 === c.want_defined ? { status: 'passed' } : { status: 'failed', reason: `want_defined ${c.want_defined}, got ${rows.length} result(s)` };
  }
  const want = c.want_result ?? [];
  if (sameRows(rows, want)) return { status: 'passed' };
  return { status: 'failed', reason: `want ${JSON.stringify(want).slice(0, 300)}, got ${JSON.stringify(rows).slice(0, 300)}` };
}

/** Ensures the cache folder exists. */
export async function ensureCache(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}
