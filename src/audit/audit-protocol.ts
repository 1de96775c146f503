import type { WasmPolicyOptions } from '../evaluator/wasm-policy.js';
import type { SinkStats } from './sinks.js';

/** The mask entrypoint a policy may export (OPA's data.system.log.mask). */
export const MASK_ENTRYPOINT = 'system/log/mask';

/** Messages from the request thread to the decision-log worker. */
export type ToWorker =
  | { t: 'policy'; revision: string; wasm: Uint8Array; data: object; options: WasmPolicyOptions }
  | { t: 'events'; items: { revision: string | null; line: string; unverified?: true }[] }
  | { t: 'flush'; id: number }
  | { t: 'close' };

/** Messages from the decision-log worker. */
export type FromWorker =
  | { t: 'stats'; processed: number; failures: number; last_error: string | null; sinks: SinkStats[] }
  | { t: 'flushed'; id: number }
  | { t: 'closed' };
