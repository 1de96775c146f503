import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import { MetricsService } from '../health/metrics.service.js';
import type { DecisionEvent } from './decision-event.js';
import { applyMask, type MaskRule } from './masking.js';
import { FileSink, HttpSink, StdoutSink, type DecisionSink } from './sinks.js';

/** The mask entrypoint a policy may export (OPA's data.system.log.mask). */
export const MASK_ENTRYPOINT = 'system/log/mask';

/**
 * Records one event per decision to the configured sinks, after applying the
 * policy's mask. Recording never blocks or fails a decision: sinks buffer and
 * drop (counted) when full. Shutdown flushes.
 */
@Injectable()
export class AuditService implements OnApplicationShutdown {
  private readonly log = new Logger('AuditService');
  private readonly sinks: DecisionSink[] = [];

  constructor(config: ToolgateConfig, metrics: MetricsService) {
    const c = config.decision_logs;
    if (c.stdout) this.sinks.push(new StdoutSink());
    if (c.file) this.sinks.push(new FileSink(c.file, c.buffer_max_events));
    if (c.http) this.sinks.push(new HttpSink(c.http));
    const sinks = this.sinks;
    new Gauge({
      name: 'toolgate_decision_log_events',
      help: 'Decision-log events per sink: written, dropped (buffer full or write failed), buffered',
      labelNames: ['sink', 'state'] as const,
      registers: [metrics.registry],
      collect() {
        this.reset();
        for (const s of sinks) {
          const st = s.stats();
          this.set({ sink: s.name, state: 'written' }, st.written);
          this.set({ sink: s.name, state: 'dropped' }, st.dropped);
          this.set({ sink: s.name, state: 'buffered' }, st.buffered);
        }
      },
    });
  }

  /** True when at least one sink is configured (callers may skip building events otherwise). */
  get enabled(): boolean {
    return this.sinks.length > 0;
  }

  /** Masks and records an event. `policy` is the revision that decided, whose mask applies. */
  record(event: DecisionEvent, policy?: WasmPolicy): void {
    if (this.sinks.length === 0) return;
    try {
      if (policy?.entrypoints.includes(MASK_ENTRYPOINT) && (event.input || event.result !== undefined)) {
        this.mask(event, policy);
      }
      const line = JSON.stringify(event);
      for (const s of this.sinks) s.offer(line);
    } catch (e) {
      this.log.error(`decision ${event.decision_id} could not be logged: ${describeThrown(e)}`);
    }
  }

  private mask(event: DecisionEvent, policy: WasmPolicy): void {
    let rules: MaskRule[];
    try {
      const out = policy.evaluate(MASK_ENTRYPOINT, { input: event.input, result: event.result }, { nowNs: Date.parse(event.timestamp) * 1e6 });
      rules = Array.isArray(out) ? (out as MaskRule[]) : [];
    } catch (e) {
      // Fail closed for privacy: without a working mask, log neither input nor result.
      this.log.error(`mask evaluation failed for ${event.decision_id}: ${describeThrown(e)}; input and result erased`);
      delete event.input;
      delete event.result;
      event.erased = ['/input', '/result'];
      return;
    }
    if (rules.length === 0) return;
    const m = applyMask({ input: event.input, result: event.result }, rules);
    event.input = m.input as Record<string, unknown> | undefined;
    event.result = m.result;
    if (m.erased.length) event.erased = m.erased;
    if (m.masked.length) event.masked = m.masked;
  }

  /** Per-sink counters for /v1/status. */
  stats() {
    return this.sinks.map((s) => s.stats());
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
