import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { BucketHistogram } from './bucket-histogram.js';

/** Decisions of one endpoint, result and code not yet handed to prom-client. */
interface DecisionCell {
  labels: { endpoint: string; result: string; code: string };
  n: number;
}

/**
 * Prometheus metrics of one toolgate instance (own registry, so several apps
 * can share a process in tests). The per-decision instruments are counted in
 * plain numbers (`recordDecision`, `countTokenLookup`) and reach prom-client
 * when the registry is read: prom-client's `inc(labels)` and `observe(labels)`
 * hash a label object on every call, which measured several µs of CPU per
 * decision over HTTP.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly decisionCells = new Map<string, DecisionCell>();
  private tokenHits = 0;
  private tokenMisses = 0;
  readonly decisions: Counter<'endpoint' | 'result' | 'code'>;
  readonly latency = new BucketHistogram(
    'toolgate_decision_duration_seconds',
    'Time to decide, from parsed request to answer',
    'endpoint',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    this.registry,
  );
  readonly tokenCache: Counter<'result'>;
  readonly jwksFetches = new Counter({
    name: 'toolgate_jwks_fetches_total',
    help: 'JWKS fetches by issuer and result',
    labelNames: ['issuer', 'result'] as const,
    registers: [this.registry],
  });
  readonly policyReloads = new Counter({
    name: 'toolgate_policy_activations_total',
    help: 'Policy activation attempts by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly policyInfo = new Gauge({
    name: 'toolgate_policy_revision_info',
    help: 'The active policy revision (value 1)',
    labelNames: ['revision'] as const,
    registers: [this.registry],
  });

  constructor() {
    const cells = this.decisionCells;
    this.decisions = new Counter({
      name: 'toolgate_decisions_total',
      help: 'Decisions by endpoint, result (allow/deny) and code',
      labelNames: ['endpoint', 'result', 'code'] as const,
      registers: [this.registry],
      collect() {
        for (const c of cells.values()) {
          if (c.n === 0) continue;
          this.inc(c.labels, c.n);
          c.n = 0;
        }
      },
    });
    const lookups = () => {
      const counts = { hit: this.tokenHits, miss: this.tokenMisses };
      this.tokenHits = 0;
      this.tokenMisses = 0;
      return counts;
    };
    this.tokenCache = new Counter({
      name: 'toolgate_token_cache_total',
      help: 'Verified-token cache lookups by result (hit/miss)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        const { hit, miss } = lookups();
        if (hit > 0) this.inc({ result: 'hit' }, hit);
        if (miss > 0) this.inc({ result: 'miss' }, miss);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'toolgate_' });
  }

  /** Counts one decision of `endpoint` and its duration (ms): `toolgate_decisions_total` and `toolgate_decision_duration_seconds`. */
  recordDecision(endpoint: string, allow: boolean, code: string | undefined, ms: number): void {
    const key = code === undefined ? (allow ? endpoint : `${endpoint}\0`) : `${endpoint}\0${allow ? 'allow' : 'deny'}\0${code}`;
    let cell = this.decisionCells.get(key);
    if (!cell) {
      cell = { labels: { endpoint, result: allow ? 'allow' : 'deny', code: code ?? (allow ? 'allowed' : 'denied') }, n: 0 };
      this.decisionCells.set(key, cell);
    }
    cell.n++;
    this.latency.observe(this.latency.series(endpoint), ms / 1000);
  }

  /** Counts one verified-token cache lookup (`toolgate_token_cache_total`). */
  countTokenLookup(hit: boolean): void {
    if (hit) this.tokenHits++;
    else this.tokenMisses++;
  }

  /** Marks `revision` as the only active one. */
  setRevision(revision: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ revision }, 1);
  }
}
