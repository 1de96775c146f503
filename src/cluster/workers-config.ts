import os from 'node:os';
import { ValidateBy, type ValidationOptions } from 'class-validator';

/** Upper bound on `workers`: more processes than this on one host only cost memory. */
export const MAX_WORKERS = 256;

/** Watchdog limit used when `workers` > 1 and `limits.evaluation_ms` is absent. */
export const DEFAULT_EVALUATION_MS = 2000;

/** `workers` is `auto` or an integer 1…MAX_WORKERS. */
export function IsWorkers(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWorkers',
      validator: {
        validate: (v: unknown) => v === 'auto' || (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WORKERS),
        defaultMessage: () => `workers must be "auto" or an integer from 1 to ${MAX_WORKERS}`,
      },
    },
    options,
  );
}

/** What the launcher does with a validated config. */
export interface ClusterPlan {
  /** Worker processes; 0 means no cluster: one process serves as before. */
  workers: number;
  /** Watchdog limit in ms, or undefined when there is no watchdog. */
  evaluationMs?: number;
}

/**
 * `workers: 1` without `limits.evaluation_ms` is the single process `make run` has always
 * started. Anything else runs a primary with workers, and then a watchdog is always on:
 * a worker stuck in an evaluation would otherwise hold its share of connections forever.
 */
export function clusterPlan(cfg: { workers: number | 'auto'; limits: { evaluation_ms?: number } }): ClusterPlan {
  const n = cfg.workers === 'auto' ? Math.max(1, os.availableParallelism()) : cfg.workers;
  if (n === 1 && cfg.limits.evaluation_ms === undefined) return { workers: 0 };
  return { workers: n, evaluationMs: cfg.limits.evaluation_ms ?? DEFAULT_EVALUATION_MS };
}
