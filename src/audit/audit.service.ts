import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { ToolgateConfig } from '../config/config.schema.js';
import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import type { FromWorker, ToWorker } from './audit-protocol.js';
import type { DecisionEvent } from './decision-event.js';
import type { SinkStats } from './sinks.js';

/**
 * The worker script. Compiled JS sits next to this file; when this file runs
 * as TypeScript (the jest suite), the compiled copy in dist/ is used, which
 * jest's global setup compiles before any suite runs.
 */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./audit-worker.js', import.meta.url);
  const compiled = path.resolve(process.cwd(), 'dist/audit/audit-worker.js');
  if (!existsSync(compiled)) throw new Error(`decision-log worker not built: ${compiled} (run make build)`);
  return pathToFileURL(compiled);
}

/** An event of a request whose token never verified: anyone can send those. */
function isUnverified(event: DecisionEvent): boolean {
  return event.token.issuer === undefined && event.token.asserted !== true;
}

/**
 * The line logged for an unverified event: never its arguments (the caller is
 * unknown, and a denied secret is all they would add), and no input or result
 * at all when it is still longer than `maxBytes`. Copies what it changes.
 */
export function capUnverified(event: DecisionEvent, maxBytes: number): string {
  let e = event;
  const tool = e.input?.tool as Record<string, unknown> | undefined;
  if (tool && typeof tool === 'object' && 'arguments' in tool) {
    const { arguments: _dropped, ...rest } = tool;
    e = { ...e, input: { ...e.input, tool: rest }, erased: [...(e.erased ?? []), '/input/tool/arguments'] };
  }
  let line = JSON.stringify(e);
  if (Buffer.byteLength(line) > maxBytes) {
    const { input: _i, result: _r, ...rest } = e;
    line = JSON.stringify({ ...rest, erased: ['/input', '/result'] });
  }
  return line;
}

/**
 * Records one event per decision. The request thread only serializes the event
 * and posts it to a worker thread, which masks it with the deciding revision's
 * mask entrypoint and feeds the sinks. Recording never blocks or fails a
 * decision: events beyond the in-flight bound are dropped and counted.
 */
@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly log = new Logger('AuditService');
  private worker?: Worker;
  private readonly revisionsSent = new WeakSet<WasmPolicy>();
  private posted = 0;
  private dropped = 0;
  private workerStats: { processed: number; failures: number; last_error: string | null; sinks: SinkStats[] } = {
    processed: 0,
    failures: 0,
    last_error: null,
    sinks: [],
  };
  private readonly maxInFlight: number;
  private closed?: Promise<void>;
  private flushes = new Map<number, () => void>();
  private batch: { revision: string | null; line: string; unverified?: true }[] = [];
  private batchScheduled = false;
  private flushSeq = 0;
  private readonly unverified: { maxEventBytes: number; perSecond: number; burst: number };
  private unverifiedTokens: number;
  private unverifiedAt = Date.now();
  private unverifiedPosted = 0;
  private unverifiedDropped = 0;

  constructor(config: ToolgateConfig, metrics: MetricsService) {
    const c = config.decision_logs;
    this.maxInFlight = c.buffer_max_events;
    const u = c.unverified;
    this.unverified = { maxEventBytes: u.max_event_bytes, perSecond: u.max_per_second, burst: u.burst };
    this.unverifiedTokens = u.burst;
    if (c.stdout || c.file || c.http || c.postgres) {
      this.worker = new Worker(workerUrl(), { workerData: { config: c, instanceId: config.instance_id } });
      this.worker.unref();
      this.worker.on('message', (m: FromWorker) => this.onMessage(m));
      this.worker.on('error', (e) => {
        this.workerStats.last_error = `decision-log worker failed: ${e.message}`;
        this.log.error(this.workerStats.last_error);
      });
      this.worker.on('exit', () => {
        this.worker = undefined;
      });
    }
    const stats = () => this.stats();
    new Gauge({
      name: 'toolgate_decision_log_events',
      help: 'Decision-log events per sink: written, dropped (buffer full or write failed), buffered',
      labelNames: ['sink', 'state'] as const,
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const st of stats()) {
          this.set({ sink: st.name, state: 'written' }, st.written);
          this.set({ sink: st.name, state: 'dropped' }, st.dropped);
          this.set({ sink: st.name, state: 'buffered' }, st.buffered);
        }
      },
    });
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'stats') this.workerStats = m;
    else if (m.t === 'flushed') {
      this.flushes.get(m.id)?.();
      this.flushes.delete(m.id);
    }
  }

  /** True when at least one sink is configured (callers may skip building events otherwise). */
  get enabled(): boolean {
    return this.worker !== undefined;
  }

  /** Hands an event to the worker. `policy` is the revision that decided; its mask applies. */
  record(event: DecisionEvent, policy?: WasmPolicy): void {
    const w = this.worker;
    if (!w) return;
    const unverified = isUnverified(event);
    if (unverified && !this.admitUnverified()) {
      this.unverifiedDropped++;
      return;
    }
    if (this.posted - this.workerStats.processed >= this.maxInFlight) {
      if (unverified) this.unverifiedDropped++;
      else this.dropped++;
      return;
    }
    // The worker keys policies by content, not label: two bundles may share a revision label.
    const key = event.bundles.toolgate.content_hash ?? event.revision;
    if (policy && key && !this.revisionsSent.has(policy)) {
      this.revisionsSent.add(policy);
      // The policy must reach the worker before the events it masks.
      this.sendBatch();
      const { wasm, data, options } = policy.source;
      this.post({ t: 'policy', revision: key, wasm, data, options });
    }
    // One message per event-loop turn carries every event recorded in it.
    if (unverified) {
      this.batch.push({ revision: key, line: capUnverified(event, this.unverified.maxEventBytes), unverified: true });
      this.unverifiedPosted++;
    } else {
      this.batch.push({ revision: key, line: JSON.stringify(event) });
    }
    this.posted++;
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(() => this.sendBatch());
    }
  }

  /** Token bucket: `burst` events at once, refilled at `max_per_second`. */
  private admitUnverified(): boolean {
    const now = Date.now();
    const u = this.unverified;
    this.unverifiedTokens = Math.min(u.burst, this.unverifiedTokens + ((now - this.unverifiedAt) / 1000) * u.perSecond);
    this.unverifiedAt = now;
    if (this.unverifiedTokens < 1) return false;
    this.unverifiedTokens--;
    return true;
  }

  private sendBatch(): void {
    this.batchScheduled = false;
    if (this.batch.length === 0) return;
    const items = this.batch;
    this.batch = [];
    this.post({ t: 'events', items });
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  /** Resolves once every event recorded so far is in the sinks' hands (written, for the file sink). */
  flush(): Promise<void> {
    if (!this.worker) return Promise.resolve();
    const id = ++this.flushSeq;
    this.sendBatch();
    return new Promise((resolve) => {
      this.flushes.set(id, resolve);
      this.post({ t: 'flush', id });
    });
  }

  /** Per-sink counters for /v1/status; events dropped before reaching the worker count under `pipeline`. */
  stats(): SinkStats[] {
    const pipeline: SinkStats = {
      name: 'pipeline',
      buffered: Math.max(0, this.posted - this.workerStats.processed),
      written: this.workerStats.processed - this.workerStats.failures,
      dropped: this.dropped + this.workerStats.failures,
      last_error: this.workerStats.last_error,
    };
    // Events whose token never verified: accepted into their stream, or dropped by its rate cap (or a full pipeline).
    const unverified: SinkStats = { name: 'unverified', buffered: 0, written: this.unverifiedPosted, dropped: this.unverifiedDropped, last_error: null };
    return this.worker || this.posted > 0 ? [pipeline, unverified, ...this.workerStats.sinks] : [];
  }

  async onApplicationShutdown(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.closed ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        void w.terminate().then(() => resolve());
      };
      const timer = setTimeout(done, 15_000);
      w.on('message', (m: FromWorker) => {
        if (m.t === 'closed') done();
      });
      this.sendBatch();
      w.postMessage({ t: 'close' } satisfies ToWorker);
    });
    await this.closed;
  }
}
