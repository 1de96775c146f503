#!/usr/bin/env node
/**
 * Runs OPA's compliance cases through toolgate's wasm evaluator.
 *   node dist/conformance/main.js [<dir>] [--filter <substring>] [--jobs N] [--sample N] [--verbose] [--min-passed N]
 * <dir> defaults to v1/test/cases/testdata/v1 of the pinned OPA module in the Go module cache.
 * Prints failures per file and a final line "N passed, N failed, N skipped".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ensureCapabilitiesFile } from '../policy-compiler/capabilities.js';
import { loadCases, type ComplianceCase } from './cases.js';
import { CaseCompiler, ensureCache, judge, type CaseOutcome } from './runner.js';

/** The pinned OPA version (kept in the Makefile). */
function pinnedOpaVersion(): string {
  const mk = execFileSync('make', ['-s', 'print-opa-version'], { encoding: 'utf8' }).trim();
  return mk;
}

function defaultSuiteDir(): string {
  const version = pinnedOpaVersion();
  const json = execFileSync('go', ['mod', 'download', '-json', `github.com/open-policy-agent/opa@${version}`], { encoding: 'utf8' });
  return path.join((JSON.parse(json) as { Dir: string }).Dir, 'v1/test/cases/testdata/v1');
}

interface SkipList {
  notes: Record<string, string>;
  files: Record<string, string>;
  builtins: Record<string, string>;
}

function skipReason(c: ComplianceCase, skips: SkipList): string | undefined {
  if (skips.notes[c.note]) return skips.notes[c.note];
  const dir = c.file.split('/')[0];
  if (skips.files[dir]) return skips.files[dir];
  const text = [c.query, ...(c.modules ?? [])].join('\n');
  for (const [b, reason] of Object.entries(skips.builtins)) {
    if (text.includes(`${b}(`)) return reason;
  }
  return undefined;
}

async function pool<T, R>(items: T[], jobs: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      filter: { type: 'string' },
      jobs: { type: 'string', default: String(Math.max(2, (await import('node:os')).cpus().length)) },
      sample: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      skips: { type: 'string', default: 'conformance/skips.yaml' },
      // A ratchet for `make test`: fail only if fewer cases pass than this.
      'min-passed': { type: 'string' },
    },
  });
  const suite = positionals[0] ?? defaultSuiteDir();
  const skips = parseYaml(await readFile(values.skips, 'utf8')) as SkipList;
  let cases = await loadCases(suite);
  if (values.filter) cases = cases.filter((c) => c.file.includes(values.filter!) || c.note.includes(values.filter!));
  if (values.sample) {
    // A fixed, representative part: every Nth case, same every run.
    const n = Math.max(1, Math.floor(cases.length / Number(values.sample)));
    cases = cases.filter((_, i) => i % n === 0);
  }
  const capsPath = await ensureCapabilitiesFile(path.resolve('build/capabilities'));
  const capsKey = createHash('sha256').update(await readFile(capsPath)).digest('hex');
  const cacheDir = path.resolve('.cache/conformance');
  await ensureCache(cacheDir);
  const compiler = new CaseCompiler(capsPath, cacheDir, capsKey);
  const started = Date.now();
  const outcomes = await pool(cases, Number(values.jobs), async (c): Promise<CaseOutcome> => {
    const reason = skipReason(c, skips);
    if (reason) return { status: 'skipped', reason };
    try {
      return await judge(c, await compiler.compile(c));
    } catch (e) {
      return { status: 'failed', reason: `runner error: ${(e as Error).message}` };
    }
  });
  const byFile = new Map<string, string[]>();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'passed') passed++;
    else if (o.status === 'skipped') {
      skipped++;
      if (values.verbose) console.log(`SKIP ${cases[i].note}: ${o.reason}`);
    } else {
      failed++;
      const list = byFile.get(cases[i].file) ?? [];
      list.push(`  FAIL ${cases[i].note}: ${o.reason}`);
      byFile.set(cases[i].file, list);
    }
  });
  for (const [file, lines] of [...byFile].sort()) {
    console.log(file);
    for (const l of lines) console.log(l);
  }
  console.error(`(${cases.length} cases from ${suite} in ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  if (values['min-passed'] !== undefined) {
    const min = Number(values['min-passed']);
    if (passed < min) console.error(`conformance regressed: ${passed} passed, expected at least ${min}`);
    return passed >= min ? 0 : 1;
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
