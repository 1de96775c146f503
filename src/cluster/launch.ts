import cluster from 'node:cluster';
import type { ToolgateConfig } from '../config/config.schema.js';
import { runPrimary } from './primary.js';
import { runWorker } from './worker.js';
import type { ClusterPlan } from './workers-config.js';

/**
 * Runs this process as the cluster primary or, when node:cluster forked it, as
 * one worker. Both read the same config file; only the primary builds policy.
 */
export async function runCluster(config: ToolgateConfig, plan: Required<ClusterPlan>, configFile: string): Promise<void> {
  if (cluster.isPrimary) await runPrimary(config, plan, configFile);
  else await runWorker(config, plan.evaluationMs);
}
