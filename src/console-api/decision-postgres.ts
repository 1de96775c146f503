import type pg from 'pg';
import type { DecisionEvent } from '../audit/decision-event.js';
import type { PostgresSinkConfig } from '../config/config.schema.js';
import { createPool } from '../postgres/connection.js';
import { encodeCursor, summarize, type DecisionFilter } from './decision-query.js';
import { bucketRates, type DecisionPage, type DecisionSource, type Rates } from './decision-source.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Decisions from the PostgreSQL decision store (decision_logs.postgres): the
 * same filters as the file source, run in SQL on the indexed columns, so the
 * search covers the whole retention period and every replica.
 */
export class PostgresDecisionSource implements DecisionSource {
  readonly name = 'postgres' as const;
  private readonly pool: pg.Pool;

  constructor(cfg: PostgresSinkConfig, onError: (e: Error) => void) {
    this.pool = createPool({ ...cfg, pool_max: Math.min(cfg.pool_max, 2) }, 'toolgate-console', onError);
  }

  async search(f: DecisionFilter): Promise<DecisionPage> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown) => `$${args.push(v)}`;
    if (f.since !== undefined) where.push(`ts >= ${arg(new Date(f.since))}`);
    if (f.until !== undefined) where.push(`ts <= ${arg(new Date(f.until))}`);
    if (f.server !== undefined) where.push(`server = ${arg(f.server)}`);
    if (f.tool !== undefined) where.push(`tool = ${arg(f.tool)}`);
    if (f.code !== undefined) where.push(`code = ${arg(f.code)}`);
    if (f.result !== undefined) where.push(`allow = ${arg(f.result === 'allow')}`);
    if (f.revision !== undefined) {
      const r = arg(f.revision);
      where.push(`(revision = ${r} OR event#>>'{bundles,toolgate,content_hash}' = ${r})`);
    }
    if (f.subject !== undefined) {
      const s = arg(f.subject);
      where.push(`(subject_fingerprint = ${s} OR token_fingerprint = ${s} OR event#>>'{token,subject}' = ${s})`);
    }
    if (f.before) {
      if (!UUID.test(f.before.id)) where.push('false');
      else where.push(`(ts, decision_id) < (${arg(new Date(f.before.at))}, ${arg(f.before.id)}::uuid)`);
    }
    const sql = `SELECT event FROM toolgate_decision_logs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ts DESC, decision_id DESC LIMIT ${arg(f.limit + 1)}`;
    const res = await this.pool.query<{ event: DecisionEvent }>(sql, args);
    const rows = res.rows.map((r) => summarize(r.event));
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return {
      source: this.name,
      decisions: page,
      next_before: rows.length > f.limit && last ? encodeCursor(last.at, last.decision_id) : undefined,
      scanned: res.rows.length,
      truncated: false,
    };
  }

  async get(id: string): Promise<DecisionEvent | undefined> {
    if (!UUID.test(id)) return undefined;
    const res = await this.pool.query<{ event: DecisionEvent }>('SELECT event FROM toolgate_decision_logs WHERE decision_id = $1::uuid LIMIT 1', [id]);
    return res.rows[0]?.event;
  }

  async rates(now: number, windowS: number, bucketS: number): Promise<Rates> {
    const res = await this.pool.query<{ t: string; allow: boolean; code: string | null; n: string }>(
      `SELECT floor(extract(epoch FROM ts) / $3) * $3 AS t, allow, code, count(*) AS n
         FROM toolgate_decision_logs WHERE ts >= $1 AND ts <= $2 GROUP BY 1, 2, 3`,
      [new Date(now - windowS * 1000), new Date(now), bucketS],
    );
    const points = res.rows.map((r) => ({ t: Number(r.t) * 1000, allow: r.allow, code: r.code, n: Number(r.n) }));
    return bucketRates(this.name, points, now, windowS, bucketS);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
