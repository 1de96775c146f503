import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { PostgresSinkConfig } from '../config/config.schema.js';
import { createPool } from '../postgres/connection.js';
import { migrate } from '../postgres/migrations.js';
import { BatchingSink } from './sinks.js';

const DAY_MS = 86_400_000;
const PARTITION_PREFIX = 'toolgate_decision_logs_p';

/**
 * Who a decision was about, comparable across events without the subject in
 * an indexed column: the first 24 hex of SHA-256 over issuer, a newline and
 * `sub` (neither contains a newline). In SQL:
 * `left(encode(sha256(convert_to(issuer || E'\n' || sub, 'UTF8')), 'hex'), 24)`.
 */
export function subjectFingerprint(issuer: string | undefined, subject: string | undefined): string | null {
  if (!issuer || !subject) return null;
  return createHash('sha256').update(`${issuer}\n${subject}`).digest('hex').slice(0, 24);
}

/** `toolgate_decision_logs_p20260131` for the UTC day holding `ms`. */
function partitionName(dayStartMs: number): string {
  return PARTITION_PREFIX + new Date(dayStartMs).toISOString().slice(0, 10).replaceAll('-', '');
}

const COLUMNS = [
  'decision_id',
  'ts',
  'instance_id',
  'kind',
  'server',
  'action',
  'tool',
  'subject_fingerprint',
  'token_fingerprint',
  'issuer',
  'client_id',
  'revision',
  'allow',
  'code',
  'http_status',
  'event',
];

// The batch travels as one JSON array (the serialized events joined by commas: no parse, no
// escaping here) and PostgreSQL's own JSON code extracts the columns: this keeps the sink's
// cost in the worker to a string join. A retried batch (commit sent, answer lost) inserts
// nothing twice. The subject fingerprint is computed as subjectFingerprint() does.
const INSERT = `INSERT INTO toolgate_decision_logs (${COLUMNS.join(', ')})
  SELECT (e->>'decision_id')::uuid, (e->>'timestamp')::timestamptz, coalesce(e#>>'{labels,id}', $2), e->>'kind',
    e#>>'{input,server}', e#>>'{input,action}', e#>>'{input,tool,name}',
    left(encode(sha256(convert_to((e#>>'{token,issuer}') || E'\\n' || (e#>>'{token,subject}'), 'UTF8')), 'hex'), 24),
    e#>>'{token,fingerprint}', e#>>'{token,issuer}', e#>>'{token,client_id}', e->>'revision',
    (e#>>'{outcome,allow}')::boolean, e#>>'{outcome,code}', (e#>>'{outcome,http_status}')::integer, e
  FROM jsonb_array_elements($1::jsonb) AS e
  ON CONFLICT DO NOTHING`;

/** The event's timestamp without parsing the event (events start with decision_id, then timestamp). */
function timestampOf(line: string): number {
  const m = /"timestamp":"([^"]+)"/.exec(line.slice(0, 200));
  return m ? Date.parse(m[1]) : Date.now();
}

/**
 * jsonb cannot hold U+0000, and a tool argument can carry one: one such event
 * would fail its whole batch. It is stored as U+FFFD instead.
 */
function storable(line: string): string {
  return line.includes('\\u0000') ? line.replaceAll('\\u0000', '\\ufffd') : line;
}

/** SQLSTATE classes 22 (data exception) and 23 (constraint): retrying the same rows cannot succeed. */
function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Decision logs in PostgreSQL, in the decision-log worker: events are batched
 * (size or interval), inserted as one statement per batch into a table
 * partitioned by day, retried with backoff while the database is down. The
 * buffer is bounded: when full, new events are dropped and counted. Partitions
 * past `retention_days` are dropped hourly.
 */
export class PostgresSink extends BatchingSink {
  readonly name = 'postgres';
  private ready = false;
  private readonly partitions = new Set<string>();
  private readonly pool: pg.Pool;
  private readonly retentionTimer: NodeJS.Timeout;

  constructor(
    private readonly cfg: PostgresSinkConfig,
    private readonly instanceId: string,
  ) {
    super(cfg);
    this.pool = createPool(cfg, `toolgate-decision-logs:${instanceId}`, (e) => {
      this.lastError = e.message;
    });
    this.retentionTimer = setInterval(() => void this.expire(), 3_600_000);
    this.retentionTimer.unref();
  }

  /** Migrates and expires on first use, makes sure the day partitions exist, then files the batch. */
  protected async deliver(batch: string[]): Promise<number> {
    if (!this.ready) {
      if (this.cfg.migrate) await migrate(this.pool);
      await this.expire();
      this.ready = true;
    }
    await this.ensurePartitions(batch.map(timestampOf));
    return this.insert(batch);
  }

  /**
   * Inserts a batch; returns how many events it filed. An event the database
   * refuses as data (not a connection problem) is dropped and counted, after
   * retrying the rest one by one, so it cannot hold the queue forever.
   */
  private async insert(batch: string[]): Promise<number> {
    const run = (lines: string[]) => this.pool.query(INSERT, [`[${lines.map(storable).join(',')}]`, this.instanceId]);
    try {
      await run(batch);
      return batch.length;
    } catch (e) {
      if (!isDataError(e)) throw e;
      let filed = 0;
      for (const line of batch) {
        try {
          await run([line]);
          filed++;
        } catch (one) {
          if (!isDataError(one)) throw one;
          this.dropped++;
          this.lastError = `event refused by PostgreSQL: ${(one as Error).message}`;
        }
      }
      return filed;
    }
  }

  /** Creates the day partitions these timestamps need (racing replicas: whoever loses finds it there). */
  private async ensurePartitions(times: number[]): Promise<void> {
    const days = new Set(times.filter(Number.isFinite).map((t) => Math.floor(t / DAY_MS) * DAY_MS));
    for (const day of days) {
      const name = partitionName(day);
      if (this.partitions.has(name)) continue;
      const from = new Date(day).toISOString();
      const to = new Date(day + DAY_MS).toISOString();
      try {
        await this.pool.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF toolgate_decision_logs FOR VALUES FROM ('${from}') TO ('${to}')`);
      } catch (e) {
        // 42P07: another replica created it between our check and our create.
        if ((e as { code?: string }).code !== '42P07') throw e;
      }
      this.partitions.add(name);
    }
  }

  /** Drops day partitions entirely older than the retention. */
  private async expire(): Promise<void> {
    const cutoff = partitionName(Math.floor((Date.now() - this.cfg.retention_days * DAY_MS) / DAY_MS) * DAY_MS);
    try {
      const { rows } = await this.pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'toolgate_decision_logs'::regclass`,
      );
      for (const { name } of rows) {
        if (name.startsWith(PARTITION_PREFIX) && name < cutoff) {
          await this.pool.query(`DROP TABLE IF EXISTS ${name}`);
          this.partitions.delete(name);
        }
      }
    } catch (e) {
      this.lastError = `retention: ${(e as Error).message}`;
    }
  }

  /** Tries to deliver what is left for a few seconds; what cannot be delivered is counted as dropped. */
  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    await this.drain(Math.min(this.cfg.connect_timeout_ms, 5000));
    this.dropped += this.buffer.length;
    this.buffer = [];
    await this.pool.end().catch(() => undefined);
  }
}
