import type pg from 'pg';

/** One schema step. Versions only grow; a released step is never edited, a fix is a new step. */
interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The schema, as ordered steps. Revocations are a plain table; decision logs
 * are range-partitioned by day (partitions are created by the sink and
 * dropped for retention), indexed for the questions operators ask: a time
 * range (BRIN: rows arrive in time order, so it costs next to nothing to
 * keep), a server and tool, a subject, a revision, an outcome code.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'revocations',
    sql: `
      CREATE TABLE toolgate_revocations (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('jti', 'sub', 'client_id')),
        value text NOT NULL,
        issued_before bigint,
        issuer text,
        reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        created_by text
      );
      CREATE INDEX toolgate_revocations_kind_value ON toolgate_revocations (kind, value);`,
  },
  {
    version: 2,
    name: 'decision_logs',
    sql: `
      CREATE TABLE toolgate_decision_logs (
        decision_id uuid NOT NULL,
        ts timestamptz NOT NULL,
        instance_id text NOT NULL,
        kind text NOT NULL,
        server text,
        action text,
        tool text,
        subject_fingerprint text,
        token_fingerprint text,
        issuer text,
        client_id text,
        revision text,
        allow boolean NOT NULL,
        code text,
        http_status integer,
        event jsonb NOT NULL,
        PRIMARY KEY (decision_id, ts)
      ) PARTITION BY RANGE (ts);
      CREATE INDEX toolgate_decision_logs_ts ON toolgate_decision_logs USING brin (ts);
      CREATE INDEX toolgate_decision_logs_server_tool ON toolgate_decision_logs (server, tool, ts);
      CREATE INDEX toolgate_decision_logs_subject ON toolgate_decision_logs (subject_fingerprint, ts);
      CREATE INDEX toolgate_decision_logs_revision ON toolgate_decision_logs (revision, ts);
      CREATE INDEX toolgate_decision_logs_outcome ON toolgate_decision_logs (allow, code, ts);`,
  },
];

/** Any fixed 64-bit key shared by every toolgate; held while migrating so concurrent starts queue. */
const LOCK_KEY = 7_346_021_113;

/** What a migration run did. */
export interface MigrationResult {
  applied: number[];
  current: number;
}

/**
 * Applies the missing steps, each in its own transaction, while holding a
 * session advisory lock: replicas starting together wait for the first one
 * and then find nothing to do. Idempotent.
 */
export async function migrate(pool: pg.Pool): Promise<MigrationResult> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS toolgate_schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM toolgate_schema_migrations')).rows.map((r) => r.version));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO toolgate_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
        }
        applied.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
    }
  } finally {
    client.release();
  }
  return { applied, current: MIGRATIONS[MIGRATIONS.length - 1].version };
}
