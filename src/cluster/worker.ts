import type { AddressInfo } from 'node:net';
import { createApp } from '../bootstrap.js';
import type { ToolgateConfig } from '../config/config.schema.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { SLOT_ENV, SPARE_ENV } from './protocol.js';
import { EVALUATION_THREADS, EvaluationPool, installEvaluationPool } from './evaluation-pool.js';
import { installWorkerLink } from './worker-link.js';

/** How often a worker proves its event loop is free: a quarter of the limit, between 10 and 250 ms. */
export function heartbeatEvery(evaluationMs: number): number {
  return Math.min(250, Math.max(10, Math.floor(evaluationMs / 4)));
}

/**
 * The decision log file of worker `slot`: `<path>.w<slot>`. Each file has exactly one
 * writer, so its rotation (`<path>.w<slot>.1` … `.N`) never races another process, and a
 * replacement worker keeps its predecessor's slot and file.
 */
export function workerLogPath(file: string, slot: number): string {
  return `${file}.w${slot}`;
}

/**
 * One cluster worker: the usual app, whose policy store takes bundles from the
 * primary and whose admin writes go through it. It listens on the shared port
 * (node:cluster hands it connections) and sends a heartbeat from its event loop,
 * so a loop stuck in an evaluation stops the heartbeat and the primary kills it.
 */
export async function runWorker(config: ToolgateConfig, evaluationMs: number): Promise<void> {
  const slot = Number(process.env[SLOT_ENV] ?? '0');
  const link = installWorkerLink(slot);
  if (config.decision_logs.file) config.decision_logs.file.path = workerLogPath(config.decision_logs.file.path, slot);
  const unverified = config.decision_logs.unverified.file;
  if (unverified) unverified.path = workerLogPath(unverified.path, slot);
  // Evaluation runs on threads of its own, so this loop, which reads and answers HTTP, never waits on one.
  const pool = installEvaluationPool(new EvaluationPool(EVALUATION_THREADS, evaluationMs));
  const app = await createApp(config);
  link.attach(app.get(RevocationService), app.get(MetricsService).registry);
  pool.attachMetrics(app.get(MetricsService).registry);
  const heartbeat = () => {
    const beat = setInterval(() => link.send({ t: 'tg:heartbeat' }), heartbeatEvery(evaluationMs));
    beat.unref();
    link.send({ t: 'tg:heartbeat' });
  };
  if (process.env[SPARE_ENV] === '1') {
    // The spare: everything a worker does except listening, so taking a lost worker's place costs one listen().
    await app.init();
    heartbeat();
    await link.promoted;
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } else {
    await app.listen({ host: config.listen.host, port: config.listen.port });
    heartbeat();
  }
  const addr = app.getHttpServer().address() as AddressInfo;
  link.send({ t: 'tg:listening', host: config.listen.host, port: addr.port });
}
