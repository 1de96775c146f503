import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

/** One OPA compliance test case (v1/test/cases/testdata). */
export interface ComplianceCase {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_defined?: boolean;
  want_error?: string;
  want_error_code?: string;
  strict_error?: boolean;
  sort_bindings?: boolean;
  /** File the case came from, relative to the suite root. */
  file: string;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Reads every case under `root`. */
export async function loadCases(root: string): Promise<ComplianceCase[]> {
  const cases: ComplianceCase[] = [];
  for (const file of await yamlFiles(root)) {
    const doc = parseYaml(await readFile(file, 'utf8'), { intAsBigInt: false, maxAliasCount: -1 }) as { cases?: Omit<ComplianceCase, 'file'>[] } | null;
    for (const c of doc?.cases ?? []) cases.push({ ...c, file: path.relative(root, file) });
  }
  return cases;
}
