import * as opaWasm from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

// The SDK's ESM entry names only loadPolicy; loadPolicySync is on its default export (types omit it).
const { loadPolicySync } = (opaWasm as unknown as { default: { loadPolicySync: typeof opaWasm.loadPolicySync } }).default;
import { describeThrown } from '../common/errors.js';
import { PolicyEvalError, PolicyLoadError } from './errors.js';
import { withHostBridge } from './host-bridge.js';
import { bindHostBuiltins, EXACT_INTEGER_BUILTINS, HOST_BUILTINS, type EvalContext } from './host-builtins.js';
import { sdkBuiltinNames, yieldSdkBuiltins } from './sdk-builtins.js';
import { introspectWasm, type WasmModuleInfo } from './wasm-introspect.js';

/** Options for loading a compiled policy. */
export interface WasmPolicyOptions {
  /** Entrypoints that must exist, e.g. `mcp/authz/decision`. */
  requiredEntrypoints?: string[];
  /** Upper bound on the module's linear memory, in 64 KiB pages (default 4096 = 256 MiB). */
  maxMemoryPages?: number;
}

yieldSdkBuiltins(Object.keys(HOST_BUILTINS));
const SDK_BUILTINS = new Set(sdkBuiltinNames());
const NO_CONTEXT: EvalContext = { nowNs: 0 };

/**
 * Owns one compiled policy (policy.wasm + data) loaded with
 * @open-policy-agent/opa-wasm. Evaluation is synchronous; the SDK's
 * LoadedPolicy shares one heap pointer and is not re-entrant, so a nested call
 * (e.g. from a host builtin) is refused rather than allowed to corrupt the heap.
 * Instances are immutable once loaded: a new revision is a new instance.
 */
export class WasmPolicy {
  private busy = false;
  private ctx: EvalContext = NO_CONTEXT;

  private constructor(
    private readonly loaded: LoadedPolicy,
    readonly info: WasmModuleInfo,
    /** What this instance was loaded from, so another thread can load the same revision. */
    readonly source: { wasm: Uint8Array; module: WebAssembly.Module; data: object; options: WasmPolicyOptions },
  ) {}

  /**
   * Compiles, checks and instantiates a policy module. Throws PolicyLoadError. An already
   * compiled module (one posted to another thread: its code is shared, not compiled again)
   * is only checked and instantiated.
   */
  static async load(wasm: Uint8Array | WebAssembly.Module, data: unknown, opts: WasmPolicyOptions = {}): Promise<WasmPolicy> {
    let module: WebAssembly.Module;
    try {
      module = wasm instanceof WebAssembly.Module ? wasm : new WebAssembly.Module(wasm);
    } catch (e) {
      throw new PolicyLoadError('load_invalid_wasm', `policy.wasm is not a valid module: ${describeThrown(e)}`);
    }
    let info: WasmModuleInfo;
    try {
      info = introspectWasm(module);
    } catch (e) {
      throw new PolicyLoadError('load_invalid_wasm', `policy.wasm is not an OPA policy module: ${describeThrown(e)}`);
    }
    if (info.abiVersion !== 1) {
      throw new PolicyLoadError('load_invalid_wasm', `unsupported OPA wasm ABI version ${String(info.abiVersion)}`);
    }
    const missing = info.hostBuiltins.filter((b) => !SDK_BUILTINS.has(b) && !(b in HOST_BUILTINS));
    if (missing.length > 0) {
      throw new PolicyLoadError(
        'load_unsupported_builtin',
        `policy calls builtins this runtime does not implement: ${missing.join(', ')}`,
      );
    }
    for (const ep of opts.requiredEntrypoints ?? []) {
      if (!(ep in info.entrypoints)) {
        throw new PolicyLoadError(
          'load_missing_entrypoint',
          `policy has no entrypoint "${ep}" (has: ${Object.keys(info.entrypoints).join(', ') || 'none'})`,
        );
      }
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new PolicyLoadError('load_data_invalid', 'policy data must be a JSON object');
    }
    let policy!: WasmPolicy;
    try {
      const host = bindHostBuiltins(() => policy.ctx);
      const loaded = withHostBridge(
        host,
        () => loadPolicySync(module, { initial: 5, maximum: opts.maxMemoryPages ?? 4096 }, host),
        EXACT_INTEGER_BUILTINS,
      );
      policy = new WasmPolicy(loaded, info, { wasm: wasm instanceof WebAssembly.Module ? new Uint8Array(0) : wasm, module, data: data as object, options: opts });
      loaded.setData(data as object);
    } catch (e) {
      throw new PolicyLoadError('load_failed', `policy could not be instantiated: ${describeThrown(e)}`);
    }
    return policy;
  }

  /** Entrypoints this policy exports. */
  get entrypoints(): string[] {
    return Object.keys(this.info.entrypoints);
  }

  /**
   * Evaluates one entrypoint and returns its value, or `undefined` when the
   * entrypoint is undefined for this input. Throws PolicyEvalError on any
   * failure; the SDK's non-Error throws are wrapped here.
   */
  evaluate(entrypoint: string, input: unknown, ctx: EvalContext): unknown {
    const id = this.info.entrypoints[entrypoint];
    if (id === undefined) {
      throw new PolicyEvalError('eval_entrypoint_unknown', `entrypoint "${entrypoint}" is not in this policy`);
    }
    if (this.busy) {
      throw new PolicyEvalError('eval_reentrant', 'policy evaluation re-entered; refused');
    }
    this.busy = true;
    this.ctx = ctx;
    try {
      const rs = this.loaded.evaluate(input, id) as unknown;
      if (!Array.isArray(rs)) {
        throw new PolicyEvalError('eval_result_invalid', 'policy returned no result set');
      }
      if (rs.length === 0) return undefined;
      const first = rs[0] as { result?: unknown } | null;
      return first && typeof first === 'object' ? first.result : undefined;
    } catch (e) {
      throw toEvalError(e);
    } finally {
      this.ctx = NO_CONTEXT;
      this.busy = false;
    }
  }
}

function toEvalError(e: unknown): PolicyEvalError {
  if (e instanceof PolicyEvalError) return e;
  const message = describeThrown(e);
  if (typeof e === 'string') return new PolicyEvalError('eval_aborted', `policy aborted: ${message}`);
  if (message.startsWith('not implemented: built-in function')) {
    return new PolicyEvalError('eval_builtin_missing', message);
  }
  return new PolicyEvalError('eval_failed', `policy evaluation failed: ${message}`);
}
