import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one toolgate instance (own registry, so several apps can share a process in tests). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'toolgate_decisions_total',
    help: 'Decisions by endpoint, result (allow/deny) and code',
    labelNames: ['endpoint', 'result', 'code'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'toolgate_decision_duration_seconds',
    help: 'Time to decide, from parsed request to answer',
    labelNames: ['endpoint'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly tokenCache = new Counter({
    name: 'toolgate_token_cache_total',
    help: 'Verified-token cache lookups by result (hit/miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
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
    collectDefaultMetrics({ register: this.registry, prefix: 'toolgate_' });
  }

  /** Marks `revision` as the only active one. */
  setRevision(revision: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ revision }, 1);
  }
}
