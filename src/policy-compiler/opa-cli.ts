import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PolicyProblem } from './errors.js';

/** Result of one OPA CLI run. */
export interface OpaRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Locates the pinned OPA binary: `TOOLGATE_OPA` when set, else the repo's
 * `.tools/bin/opa` (built by `make setup`), else `opa` on PATH.
 */
export function resolveOpaBinary(cwd: string = process.cwd()): string {
  if (process.env.TOOLGATE_OPA) return process.env.TOOLGATE_OPA;
  const local = path.resolve(cwd, '.tools/bin/opa');
  return existsSync(local) ? local : 'opa';
}

/**
 * Runs the OPA CLI as a child process, off the request path. Never throws for a
 * non-zero exit; the caller decides what a failure means. A timeout kills it.
 */
export function runOpa(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; opaBinary?: string } = {},
): Promise<OpaRun> {
  const bin = opts.opaBinary ?? resolveOpaBinary();
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const extra = err && typeof err.code !== 'number' ? `\n${err.message}` : '';
        resolve({ code, stdout: String(stdout), stderr: String(stderr) + extra });
      },
    );
  });
}

const LOCATED = /(?:^|\s)(\S+?\.(?:rego|json|yaml|yml)):(\d+)(?::\d+)?:\s*(.*)$/;
const HEADER = /^(?:error:\s*)?\d+ errors? occurred(?: during loading)?:?$/;

/**
 * Extracts `file:line: message` problems from OPA CLI output. Lines that carry
 * no location are kept as unlocated problems so nothing the CLI said is lost.
 */
export function parseOpaProblems(output: string, baseDir?: string): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = LOCATED.exec(line);
    if (m) {
      const file = baseDir ? path.relative(baseDir, path.resolve(baseDir, m[1])) : m[1];
      problems.push({ file, line: Number(m[2]), message: m[3] });
    } else if (!HEADER.test(line)) {
      problems.push({ message: line.replace(/^error:\s*/, '') });
    }
  }
  return problems;
}
