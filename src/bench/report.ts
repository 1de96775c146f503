import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** "Node v20…, 2× <cpu>, <date>": the first words of every benchmark's method line. */
export function machine(): string {
  return `Node ${process.version}, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString().slice(0, 10)}`;
}

/** The p-quantile (0..1) of a sample. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

export const median = (xs: number[]): number => percentile(xs, 0.5);

/** Polls `url` until it answers 200; fails if `child` exits or a minute passes. */
export async function waitReady(url: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Prints a benchmark's result and, with `--write`, replaces the text between
 * `<!-- name:start -->` and `<!-- name:end -->` in BENCHMARKS.md with it.
 */
export async function report(name: string, text: string): Promise<void> {
  console.log(text);
  if (!process.argv.includes('--write')) return;
  const file = path.join(process.cwd(), 'BENCHMARKS.md');
  const doc = await readFile(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < 0) throw new Error(`BENCHMARKS.md lacks the ${name} markers`);
  await writeFile(file, `${doc.slice(0, i + start.length)}\n${text}\n${doc.slice(j)}`);
}
