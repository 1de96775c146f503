import type pg from 'pg';
import type { DecisionEvent } from '../audit/decision-event.js';
import { subjectFingerprint } from '../audit/postgres-sink.js';
import type { PostgresSinkConfig } from '../config/config.schema.js';
import { createPool } from '../postgres/connection.js';
import { encodeCursor, summarize, type DecisionFilter } from './decision-query.js';
import { bucketRates, type DecisionPage, type DecisionSource, type Rates } from './decision-source.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A subject fingerprint as the store indexes it (24 hex) and a token fingerprint (12 hex). */
const SUBJECT_FP = /^[0-9a-f]{24}$/;
const TOKEN_FP = /^[0-9a-f]{12}$/;

/**
 * The WHERE terms of a search. Each filter reads one column chosen by the
 * value's shape, never an OR over columns and JSON paths (which the planner
 * can only answer by reading every row): `subject` of 24 hex is a subject
 * fingerprint (indexed), 12 hex a token fingerprint, anything else a raw
 * subject, fingerprinted with every configured issuer (indexed); `revision`
 * starting `sha256:` is a content hash (read from the event: not indexed, bound
 * it with since/until), anything else a revision label (indexed).
 */
export function decisionWhere(f: DecisionFilter, issuers: readonly string[]): { where: string[]; args: unknown[] } {
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
    if (f.revision.startsWith('sha256:')) where.push(`event#>>'{bundles,toolgate,content_hash}' = ${arg(f.revision)}`);
    else where.push(`revision = ${arg(f.revision)}`);
  }
  if (f.subject !== undefined) {
    if (SUBJECT_FP.test(f.subject)) where.push(`subject_fingerprint = ${arg(f.subject)}`);
    else if (TOKEN_FP.test(f.subject)) where.push(`token_fingerprint = ${arg(f.subject)}`);
    else {
      const fps = [...new Set(issuers)].map((i) => subjectFingerprint(i, f.subject)).filter((x): x is string => x !== null);
      where.push(`subject_fingerprint = ANY(${arg(fps)}::text[])`);
    }
  }
  if (f.before) {
    if (!UUID.test(f.before.id)) where.push('false');
    else where.push(`(ts, decision_id) < (${arg(new Date(f.before.at))}, ${arg(f.before.id)}::uuid)`);
  }
  return { where, args };
}

/**
 * Decisions from the PostgreSQL decision store (decision_logs.postgres): the
 * same filters as the file source, run in SQL on the indexed columns, so the
 * search covers the whole retention period and every replica.
 */
export class PostgresDecisionSource implements DecisionSource {
  readonly name = 'postgres' as const;
  private readonly pool: pg.Pool;

  /**
   * @param issuers the issuers whose subjects a raw `subject` filter is
   *   fingerprinted with (the configured ones): the search then uses the index.
   */
  constructor(
    cfg: PostgresSinkConfig,
    onError: (e: Error) => void,
    private readonly issuers: readonly string[] = [],
  ) {
    this.pool = createPool({ ...cfg, pool_max: Math.min(cfg.pool_max, 2) }, 'toolgate-console', onError);
  }

  async search(f: DecisionFilter): Promise<DecisionPage> {
    const { where, args } = decisionWhere(f, this.issuers);
    const arg = (v: unknown) => `$${args.push(v)}`;
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
