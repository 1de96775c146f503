import { createRequire } from 'node:module';
import path from 'node:path';
import * as opaWasm from '@open-policy-agent/opa-wasm';
import { withHostBridge } from '../../src/evaluator/host-bridge.js';
import { bindHostBuiltins, EXACT_INTEGER_BUILTINS } from '../../src/evaluator/host-builtins.js';
import type { ParityRuntime } from '../../src/policy-compiler/parity.js';

const require = createRequire(import.meta.url);
const { loadPolicySync } = (opaWasm as unknown as { default: { loadPolicySync: typeof opaWasm.loadPolicySync } }).default;

/**
 * The npm SDK's own `sprintf` (sprintf-js's vsprintf), read from the SDK's
 * file, which toolgate's evaluator does not touch (it only removes the entry
 * from the SDK's builtin table). It rejects Go's `%v` and `%q` by throwing.
 */
export function sdkOriginalSprintf(): (format: unknown, args: unknown) => unknown {
  const entry = require.resolve('@open-policy-agent/opa-wasm');
  const strings = require(path.join(path.dirname(entry), 'builtins', 'strings.js')) as { sprintf: (f: unknown, a: unknown) => unknown };
  return strings.sprintf;
}

/**
 * A fixture build of toolgate's runtime as it was before src/evaluator/sprintf.ts:
 * the same SDK, host bridge and host builtins, except that `sprintf` is the
 * SDK's original again. Its exceptions propagate as the SDK's did.
 */
export const sdkSprintfRuntime: ParityRuntime = async (wasm, data) => {
  const module = new WebAssembly.Module(wasm);
  const host = { ...bindHostBuiltins(() => ({ nowNs: Date.now() * 1e6 })), sprintf: sdkOriginalSprintf() };
  const loaded = withHostBridge(host, () => loadPolicySync(module, { initial: 5, maximum: 4096 }, host), EXACT_INTEGER_BUILTINS);
  loaded.setData(data);
  return {
    evaluate(entrypoint) {
      const rs = loaded.evaluate(undefined, entrypoint) as { result?: unknown }[];
      return rs.length > 0 ? rs[0].result : undefined;
    },
  };
};
