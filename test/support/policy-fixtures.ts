import { cp, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Repository root (tests run from it). */
export const ROOT = process.cwd();

/** A scratch copy of the reference policies and tests that a test may edit freely. */
export interface PolicyWorkspace {
  dir: string;
  policies: string;
  tests: string;
  out: string;
  write(rel: string, content: string): Promise<void>;
  remove(rel: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Copies policies/ and rego-tests/ into a fresh temp dir. */
export async function policyWorkspace(): Promise<PolicyWorkspace> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-test-'));
  const policies = path.join(dir, 'policies');
  const tests = path.join(dir, 'rego-tests');
  await cp(path.join(ROOT, 'policies'), policies, { recursive: true });
  await cp(path.join(ROOT, 'rego-tests'), tests, { recursive: true });
  return {
    dir,
    policies,
    tests,
    out: path.join(dir, 'build'),
    async write(rel, content) {
      const p = path.join(dir, rel);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content);
    },
    remove: (rel) => rm(path.join(dir, rel), { force: true }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
