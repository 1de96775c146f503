/** Messages between a cluster worker's event loop and its evaluation threads (src/cluster/evaluation-pool.ts). */
import type { WasmPolicyOptions } from '../evaluator/wasm-policy.js';

export type ToThread =
  /** Load one revision under a pool-local id; sent once per thread before its first job on it. */
  | { t: 'load'; id: number; module: WebAssembly.Module; data: object; options: WasmPolicyOptions }
  /** Forget a revision the process no longer uses. */
  | { t: 'drop'; id: number }
  /**
   * Evaluate `inputs` (one, or a list's items, each as JSON text: what the SDK would
   * serialize anyway, and a string crosses threads as one copy) with revision `p`;
   * `each`: a failed item is its own result, not the job's.
   */
  | { t: 'eval'; job: number; p: number; e: string; inputs: string[]; nowNs: number; each: boolean };

export type ItemResult = { ok: true; v: unknown } | { ok: false; code: string; message: string };

export type FromThread =
  | { t: 'loaded'; id: number; error?: string }
  | { t: 'done'; job: number; results: ItemResult[] };
