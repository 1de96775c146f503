import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { jsonPatch } from '../evaluator/builtins/json-patch.js';
import { PolicyBuildError } from '../policy-compiler/errors.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';

/** One RFC 6902 operation; members other than op, path, from and value (e.g. a `why`) are ignored. */
export type DataPatchOp = { op: string; path: string; from?: string; value?: unknown };

/**
 * Reads a data patch: a JSON array of RFC 6902 operations on the policy's data
 * document (paths from the data root, e.g. `/catalog/scope_roles/role:finance`),
 * or an object holding them under `patch` (what `toolgate privileges --suggest`
 * writes). Throws PolicyBuildError (exit 1) when the file is not one.
 */
export async function readDataPatch(file: string): Promise<DataPatchOp[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new PolicyBuildError('data_patch_invalid', 'load', `${file}: ${(e as Error).message}`);
  }
  const ops = Array.isArray(doc) ? doc : (doc as { patch?: unknown } | null)?.patch;
  if (!Array.isArray(ops) || !ops.every((o) => o && typeof o === 'object' && typeof o.op === 'string' && typeof o.path === 'string')) {
    throw new PolicyBuildError('data_patch_invalid', 'load', `${file}: expected an array of JSON Patch operations (or an object with one under "patch")`);
  }
  return ops as DataPatchOp[];
}

/**
 * The same compiled policy over patched data: the wasm module is loaded again
 * with the patch applied to a copy of its data, so a data-only change (a
 * suggested tightening) is replayed without rebuilding anything. The revision
 * and content hash say the data was patched. A patch that does not apply (a
 * failed `test`, a missing path) throws PolicyBuildError.
 */
export async function withDataPatch(active: ActivePolicy, ops: DataPatchOp[], label = 'data patch'): Promise<ActivePolicy> {
  let data: unknown;
  try {
    data = jsonPatch(active.policy.source.data, ops);
  } catch (e) {
    throw new PolicyBuildError('data_patch_failed', 'load', `${label} does not apply to ${active.revision}: ${(e as Error).message}`);
  }
  const policy = await WasmPolicy.load(active.policy.source.wasm, data, active.policy.source.options);
  const tag = createHash('sha256').update(JSON.stringify(ops)).digest('hex').slice(0, 12);
  return { ...active, policy, revision: `${active.revision}+patch-${tag}`, contentHash: `${active.contentHash}+patch-${tag}`, files: undefined };
}
