import { Counter, Gauge, type Registry } from 'prom-client';

/** Why the revocation file could not be (re)loaded: gone, unreadable, or not a valid rule file. */
export type StoreProblem = 'missing' | 'unreadable' | 'invalid';

/**
 * The revocation store's instruments: how many rules are in force, whether the
 * file backing them last loaded cleanly, and a count of failed reloads.
 */
export class RevocationMetrics {
  readonly errors: Counter<'reason'>;

  constructor(registry: Registry, snapshot: () => { rules: number; healthy: boolean }) {
    this.errors = new Counter({
      name: 'toolgate_revocation_store_errors_total',
      help: 'Failed reloads of the revocation file by reason (missing/unreadable/invalid); the last loaded rules stay in force',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    new Gauge({
      name: 'toolgate_revocation_rules',
      help: 'Revocation rules in force',
      registers: [registry],
      collect() {
        this.set(snapshot().rules);
      },
    });
    new Gauge({
      name: 'toolgate_revocation_store_healthy',
      help: '1 when the revocation file last loaded cleanly, 0 while it is missing, unreadable or invalid',
      registers: [registry],
      collect() {
        this.set(snapshot().healthy ? 1 : 0);
      },
    });
  }
}
