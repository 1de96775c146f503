/**
 * Messages between the primary and its workers over node:cluster IPC (advanced
 * serialization, so bundle files travel as bytes). Every type starts with `tg:`;
 * prom-client's own aggregation messages share the channel and are ignored here.
 */
import type { Revocation } from '../token/revocation.service.js';
import type { PolicySource } from '../policy-store/active-policy.js';

/** A verified bundle as the primary activated it: the files, in order. */
export interface BundleMessage {
  t: 'tg:policy';
  files: [string, Uint8Array][];
  source: PolicySource;
  contentHash: string;
  /** Primary's Date.now() at activation, for the swap-latency measure. */
  activatedAt: number;
}

/** Operations a worker asks the primary to perform. */
export type WorkerRequest =
  | { op: 'revocation.add'; rule: Omit<Revocation, 'id' | 'created_at'> }
  | { op: 'revocation.remove'; id: string }
  | { op: 'metrics' };

export type ToPrimary =
  | { t: 'tg:hello' }
  | { t: 'tg:heartbeat' }
  | { t: 'tg:active'; contentHash: string; revision: string; activatedAt: number }
  | { t: 'tg:listening'; host: string; port: number }
  | { t: 'tg:request'; id: number; req: WorkerRequest }
  | { t: 'tg:ack'; id: number }
  | { t: 'tg:metrics'; id: number; metrics: unknown[] };

export type ToWorker =
  | BundleMessage
  | { t: 'tg:response'; id: number; ok: true; value: unknown }
  | { t: 'tg:response'; id: number; ok: false; error: string; status?: number }
  | { t: 'tg:revocations-changed'; id: number }
  | { t: 'tg:readiness'; ready: number; expected: number }
  /** The spare takes a lost worker's place: it starts listening. */
  | { t: 'tg:promote' }
  /** Asks for the worker's registry as JSON (prom-client's getMetricsAsJSON), to aggregate. */
  | { t: 'tg:metrics-request'; id: number };

/** True for messages of this protocol (the channel also carries prom-client's). */
export function isToolgateMessage(m: unknown): m is { t: string } {
  return !!m && typeof m === 'object' && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('tg:');
}

/** Env var carrying a worker's stable slot (0…N-1): a replacement keeps its predecessor's slot and log file. */
export const SLOT_ENV = 'TOOLGATE_WORKER_SLOT';

/** Env var set to `1` in the spare: booted, policy loaded, not listening until promoted. */
export const SPARE_ENV = 'TOOLGATE_WORKER_SPARE';
