import { Counter, Gauge, type Registry } from 'prom-client';

/** Why the revocation store could not be (re)loaded: file gone, unreadable, not a valid rule file, or the database unreachable. */
export type StoreProblem = 'missing' | 'unreadable' | 'invalid' | 'unreachable';

/** What the instruments read on each scrape. */
export interface RevocationSnapshot {
  rules: number;
  healthy: boolean;
  /** Seconds since the rules were last refreshed; Infinity when they never were. */
  stalenessSeconds: number;
  stale: boolean;
}

/**
 * The revocation store's instruments: how many rules are in force, whether the
 * store backing them last loaded cleanly, how old they are, and counts of
 * failed reloads and of decisions refused because the rules were stale.
 */
export class RevocationMetrics {
  readonly errors: Counter<'reason'>;
  readonly staleDenials: Counter;

  constructor(registry: Registry, snapshot: () => RevocationSnapshot) {
    this.errors = new Counter({
      name: 'toolgate_revocation_store_errors_total',
      help: 'Failed reloads of the revocation store by reason (missing/unreadable/invalid/unreachable); the last loaded rules stay in force',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
    this.staleDenials = new Counter({
      name: 'toolgate_revocation_stale_denials_total',
      help: 'Tokens refused with revocation_stale because the rules were older than revocation.max_staleness_s',
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
      help: '1 when the revocation store last loaded cleanly, 0 while it is missing, unreadable, invalid or unreachable',
      registers: [registry],
      collect() {
        this.set(snapshot().healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'toolgate_revocation_staleness_seconds',
      help: 'Seconds since the revocation rules were last refreshed from their store (+Inf: never loaded)',
      registers: [registry],
      collect() {
        this.set(snapshot().stalenessSeconds);
      },
    });
    new Gauge({
      name: 'toolgate_revocation_stale',
      help: '1 while the revocation rules are older than revocation.max_staleness_s',
      registers: [registry],
      collect() {
        this.set(snapshot().stale ? 1 : 0);
      },
    });
  }
}
