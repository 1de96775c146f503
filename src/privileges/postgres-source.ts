import type { PostgresSinkConfig } from '../config/config.schema.js';
import { createPool, describeUrl } from '../postgres/connection.js';
import type { EventSource } from './events.js';

/** Rows fetched per round trip: a batch of events is a few MiB at most. */
const FETCH_ROWS = 5000;

/**
 * The PostgreSQL decision store (`decision_logs.postgres`) as an event source:
 * the events of the period, streamed through a server-side cursor in one
 * read-only transaction (memory stays bounded; each FETCH is one statement, so
 * the statement timeout applies per batch, not to the month). No ORDER BY: the
 * findings do not depend on the order, and sorting a month would be one long
 * statement; the day partitions come out roughly in time order anyway. The
 * time bounds are pushed down to the partitioned table (partition pruning);
 * the remaining filters apply to each event as for files.
 */
export function postgresSource(cfg: PostgresSinkConfig, since?: number, until?: number): EventSource {
  return {
    kind: 'postgres',
    location: [`${describeUrl(cfg.url)} toolgate_decision_logs`],
    async *lines() {
      const pool = createPool({ ...cfg, pool_max: 1 }, 'toolgate-privileges', () => undefined);
      const client = await pool.connect();
      try {
        await client.query('BEGIN READ ONLY');
        // Only the bounds given, so the planner can prune the day partitions outside them.
        const where: string[] = [];
        const params: string[] = [];
        if (since !== undefined) where.push(`ts >= $${params.push(new Date(since).toISOString())}::timestamptz`);
        if (until !== undefined) where.push(`ts < $${params.push(new Date(until).toISOString())}::timestamptz`);
        await client.query(
          `DECLARE toolgate_privileges NO SCROLL CURSOR FOR SELECT event::text AS e FROM toolgate_decision_logs${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
          params,
        );
        for (;;) {
          const { rows } = await client.query<{ e: string }>(`FETCH ${FETCH_ROWS} FROM toolgate_privileges`);
          for (const r of rows) yield r.e;
          if (rows.length < FETCH_ROWS) break;
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
        await pool.end();
      }
    },
  };
}
