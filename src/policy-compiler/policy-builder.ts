import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describeThrown } from '../common/errors.js';
import { readBundleArchive, type BundleFiles } from './bundle-archive.js';
import { ensureCapabilitiesFile } from './capabilities.js';
import { PolicyBuildError, type PolicyStep } from './errors.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { LIST_WRAPPER_FILE, LIST_WRAPPER_REGO } from './list-wrapper.js';
import { parseOpaProblems, runOpa } from './opa-cli.js';
import { runRegoTests } from './opa-test-results.js';
import { assertParity, checkParity, type ParityReport, type ParityRuntime } from './parity.js';

/** Inputs of one policy build. */
export interface BuildOptions {
  /** Directory of Rego and data files (the bundle root). */
  policyDir: string;
  /** Directory of Rego tests run as the activation gate. */
  testDir?: string;
  /** Where the bundle, capabilities and intermediate files go. */
  outDir: string;
  /** Run `opa test` and refuse to build when it fails (default true). */
  runTests?: boolean;
  /** Minimum `opa test` coverage percentage; checked only when set. */
  coverageThreshold?: number;
  /** Revision to stamp; default: git commit when the policy dir is clean, else a content hash. */
  revision?: string;
  /** Sign the bundle as CI would (`opa build --signing-key`); keyid and scope go into the signed claims. */
  signing?: { keyPath: string; alg?: string; keyId?: string; scope?: string };
  /** Run the tests through the wasm runtime too and refuse a divergence (default true when tests run). */
  parity?: boolean;
  /** The runtime the parity check loads the tests into (default: production's). */
  parityRuntime?: ParityRuntime;
  opaBinary?: string;
  timeoutMs?: number;
}

/** A built bundle on disk and in memory. */
export interface BuiltBundle {
  bundlePath: string;
  revision: string;
  files: BundleFiles;
  /** The parity check's report, when the tests ran. */
  parity?: ParityReport;
}

const exec = promisify(execFile);

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out.sort();
}

/** sha256 over every file's relative path and bytes: identical sources give identical revisions. */
export async function contentRevision(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of await listFiles(dir)) {
    h.update(path.relative(dir, f)).update('\0').update(await readFile(f)).update('\0');
  }
  return `sha256-${h.digest('hex').slice(0, 16)}`;
}

/**
 * The revision for a policy directory: the git commit when the directory is
 * tracked and unmodified, otherwise a content hash (so every edit in source
 * mode gets a distinct revision).
 */
export async function computeRevision(dir: string): Promise<string> {
  try {
    const opts = { cwd: dir, timeout: 5000 };
    const { stdout: dirty } = await exec('git', ['status', '--porcelain', '--', '.'], opts);
    const { stdout: commit } = await exec('git', ['log', '-1', '--format=%H', '--', '.'], opts);
    if (!dirty.trim() && commit.trim()) return `git-${commit.trim().slice(0, 12)}`;
  } catch {
    // not a git checkout: fall through to the content hash
  }
  return contentRevision(dir);
}

function failed(code: string, step: PolicyStep, summary: string, output: string, baseDir: string): never {
  const problems = parseOpaProblems(output, baseDir);
  const first = problems.find((p) => p.file) ?? problems[0];
  const where = first?.file ? ` at ${first.file}:${first.line}` : '';
  throw new PolicyBuildError(code, step, `${summary}${where}: ${first?.message ?? output.trim()}`, problems);
}

/**
 * Rego source → checked (`opa check --strict`, with the runtime's capabilities)
 * → tested (`opa test`, the gate) → the same tests through the wasm runtime
 * (the parity gate, see parity.ts) → compiled (`opa build -t wasm`) → a bundle
 * whose manifest has the decision entrypoint. Each step runs the real OPA CLI
 * in a child process; any failure throws PolicyBuildError naming the step and
 * file:line.
 */
export async function buildPolicyBundle(opts: BuildOptions): Promise<BuiltBundle> {
  const policyDir = path.resolve(opts.policyDir);
  const outDir = path.resolve(opts.outDir);
  const run = (args: string[]) => runOpa(args, { cwd: policyDir, opaBinary: opts.opaBinary, timeoutMs: opts.timeoutMs });
  await mkdir(outDir, { recursive: true });
  if (!(await stat(policyDir).catch(() => null))?.isDirectory()) {
    throw new PolicyBuildError('policy_dir_missing', 'check', `policy directory ${policyDir} does not exist`);
  }
  const caps = await ensureCapabilitiesFile(path.join(outDir, 'capabilities'), opts.opaBinary);

  const check = await run(['check', '--strict', '--capabilities', caps, '.']);
  if (check.code !== 0) failed('policy_check_failed', 'check', 'policy check failed', check.stdout + check.stderr, policyDir);

  // The gate: opa test, then the same tests through the wasm runtime (parity), the latter
  // alongside the production build since neither needs the other.
  let parity: Promise<ParityReport> | undefined;
  if (opts.runTests !== false && opts.testDir) {
    const testDir = path.resolve(opts.testDir);
    const common = { policyDir, testDir, opaBinary: opts.opaBinary, timeoutMs: opts.timeoutMs };
    const tests = await runRegoTests({ ...common, coverageThreshold: opts.coverageThreshold });
    if (opts.parity !== false) {
      parity = checkParity({ ...common, outDir, capabilities: caps, tests, runtime: opts.parityRuntime });
      parity.catch(() => undefined); // awaited after the build; this only keeps an early rejection from being unhandled
    }
  }

  const revision = opts.revision ?? (await computeRevision(policyDir));
  const tmp = path.join(outDir, `bundle.${process.pid}.${Date.now()}.tar.gz`);
  const args = ['build', '-t', 'wasm', '--capabilities', caps, '--revision', revision, '-o', tmp, '-b', '.'];
  if (opts.signing) {
    const claims = path.join(outDir, `signing-claims.${process.pid}.json`);
    await writeFile(claims, JSON.stringify({ keyid: opts.signing.keyId ?? 'default', ...(opts.signing.scope ? { scope: opts.signing.scope } : {}) }));
    args.push('--signing-key', path.resolve(opts.signing.keyPath), '--signing-alg', opts.signing.alg ?? 'RS256', '--claims-file', claims);
  }
  // Built from a copy of the policy with toolgate's list wrapper added (list-wrapper.ts): the
  // policy directory is never written to, and its files keep their relative paths for problems.
  const stage = await mkdtemp(path.join(os.tmpdir(), 'toolgate-build-'));
  let build;
  try {
    await cp(policyDir, stage, { recursive: true });
    await mkdir(path.dirname(path.join(stage, LIST_WRAPPER_FILE)), { recursive: true });
    await writeFile(path.join(stage, LIST_WRAPPER_FILE), LIST_WRAPPER_REGO);
    build = await runOpa(args, { cwd: stage, opaBinary: opts.opaBinary, timeoutMs: opts.timeoutMs });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  let parityReport: ParityReport | undefined;
  try {
    parityReport = await parity;
    if (parityReport) assertParity(parityReport);
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof PolicyBuildError) throw e;
    throw new PolicyBuildError('policy_parity_error', 'parity', `the parity check could not run: ${describeThrown(e)}`);
  }
  if (build.code !== 0) {
    const out = build.stdout + build.stderr;
    if (/requires at least one entrypoint|no entrypoints/i.test(out)) {
      throw new PolicyBuildError('entrypoint_missing', 'build', `policy declares no entrypoint; expected ${DECISION_ENTRYPOINT} (# METADATA / entrypoint: true)`);
    }
    failed('policy_build_failed', 'build', 'policy build failed', out, policyDir);
  }
  const files = readBundleArchive(await readFile(tmp));
  const manifest = JSON.parse(files.get('/.manifest')?.toString('utf8') ?? '{}') as { wasm?: { entrypoint: string }[] };
  if (!manifest.wasm?.some((w) => w.entrypoint === DECISION_ENTRYPOINT)) {
    throw new PolicyBuildError('entrypoint_missing', 'build', `policy bundle has no ${DECISION_ENTRYPOINT} entrypoint (found: ${manifest.wasm?.map((w) => w.entrypoint).join(', ') || 'none'})`);
  }
  const bundlePath = path.join(outDir, 'bundle.tar.gz');
  await rename(tmp, bundlePath);
  return { bundlePath, revision, files, parity: parityReport };
}
