import { Logger } from '@nestjs/common';
import pg from 'pg';
import { describeThrown } from '../common/errors.js';
import type { RevocationPostgresConfig } from '../config/config.schema.js';
import { clientOptions, createPool, describeUrl } from '../postgres/connection.js';
import { migrate } from '../postgres/migrations.js';
import type { Revocation, RevocationKind } from './revocation.service.js';

/** The channel every replica LISTENs on; the payload names the change, the row is read from the table. */
export const REVOCATION_CHANNEL = 'toolgate_revocations';

/** What the Postgres store tells the service holding the rules. */
export interface RevocationHooks {
  /** The whole table, read now: replaces the rules in force and counts as a refresh. */
  replace(rules: Revocation[]): void;
  upsert(rule: Revocation): void;
  drop(id: string): void;
  /** The rules in force could not be refreshed; they stay in force. */
  fail(message: string): void;
}

interface Row {
  id: string;
  kind: RevocationKind;
  value: string;
  issued_before: string | null;
  issuer: string | null;
  reason: string | null;
  created_at: Date;
}

interface Change {
  op: 'add' | 'remove';
  id: string;
}

const COLUMNS = 'id, kind, value, issued_before, issuer, reason, created_at';
const MAX_RECONNECT_MS = 5000;

function toRule(r: Row): Revocation {
  return {
    id: r.id,
    kind: r.kind,
    value: r.value,
    ...(r.issued_before !== null ? { issued_before: Number(r.issued_before) } : {}),
    ...(r.issuer !== null ? { issuer: r.issuer } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    created_at: r.created_at.toISOString(),
  };
}

/**
 * Revocations shared by replicas through PostgreSQL. A write commits the row
 * and a NOTIFY in one transaction, so it is durable before the API answers
 * and every listening replica hears of it on commit. A dedicated connection
 * LISTENs; notifications sent while it is down are lost to it, so it reloads
 * the whole table after every (re)connect, and on a timer as a safety net.
 * Every change to the rules runs one at a time, so a reload that read the
 * table before a write cannot land after it and undo it.
 */
export class PostgresRevocationStore {
  private readonly log = new Logger('PostgresRevocations');
  private readonly pool: pg.Pool;
  private listener?: pg.Client;
  private listening = false;
  private timer?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private backoffMs = 0;
  private migrated = false;
  private connecting = false;
  private stopped = false;
  private lock: Promise<unknown> = Promise.resolve();
  readonly where: string;

  constructor(
    private readonly cfg: RevocationPostgresConfig,
    private readonly instanceId: string,
    private readonly hooks: RevocationHooks,
  ) {
    this.where = describeUrl(cfg.url);
    this.pool = createPool(cfg, `toolgate-revocations:${instanceId}`, (e) => this.log.warn(`idle connection failed: ${e.message}`));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** True while the LISTEN connection is up. */
  get connected(): boolean {
    return this.listening;
  }

  /**
   * Connects, migrates, listens and loads. A database that cannot be reached
   * is no startup error: the rules stay unknown (stale, so decisions are
   * denied unless `on_stale: serve`) and the store keeps retrying.
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.resync(), this.cfg.resync_interval_s * 1000);
    this.timer.unref();
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting) return;
    this.connecting = true;
    try {
      if (this.cfg.migrate && !this.migrated) {
        const r = await migrate(this.pool);
        this.migrated = true;
        if (r.applied.length) this.log.log(`applied schema migrations ${r.applied.join(', ')} on ${this.where}`);
      }
      const client = new pg.Client(clientOptions(this.cfg, `toolgate-listen:${this.instanceId}`));
      client.on('error', (e) => this.lost(client, e));
      client.on('end', () => this.lost(client, new Error('connection closed')));
      client.on('notification', (n) => {
        if (n.channel === REVOCATION_CHANNEL) void this.apply(n.payload);
      });
      this.listener = client;
      await client.connect();
      // LISTEN before the reload: a change committed in between is both read and notified, never missed.
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
      this.listening = true;
      this.backoffMs = 0;
      await this.resync();
    } catch (e) {
      this.lost(this.listener, e);
    } finally {
      this.connecting = false;
    }
  }

  private lost(client: pg.Client | undefined, e: unknown): void {
    if (client && client !== this.listener) return;
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
    }
    this.listener = undefined;
    this.listening = false;
    if (this.stopped || this.reconnect) return;
    this.hooks.fail(`${this.where}: ${describeThrown(e)}; keeping the rules in force, reconnecting`);
    this.backoffMs = Math.min(MAX_RECONNECT_MS, this.backoffMs ? this.backoffMs * 2 : 100);
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.connect();
    }, this.backoffMs);
    this.reconnect.unref();
  }

  /** Reloads the whole table; a failure keeps the rules in force (and their age grows). */
  resync(): Promise<void> {
    return this.exclusive(async () => {
      try {
        const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM toolgate_revocations`);
        this.hooks.replace(rows.map(toRule));
        // The database answers again: listen now rather than at the end of a reconnect backoff.
        if (!this.listening && this.reconnect) {
          clearTimeout(this.reconnect);
          this.reconnect = undefined;
          setImmediate(() => void this.connect());
        }
      } catch (e) {
        this.hooks.fail(`${this.where}: reload failed: ${describeThrown(e)}; keeping the rules in force`);
      }
    });
  }

  private apply(payload: string | undefined): Promise<void> {
    return this.exclusive(async () => {
      let change: Change;
      try {
        change = JSON.parse(payload ?? '') as Change;
        if ((change.op !== 'add' && change.op !== 'remove') || typeof change.id !== 'string') throw new Error('unexpected shape');
      } catch {
        this.log.warn(`ignoring a malformed notification on ${REVOCATION_CHANNEL}`);
        return;
      }
      if (change.op === 'remove') {
        this.hooks.drop(change.id);
        return;
      }
      try {
        const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM toolgate_revocations WHERE id = $1`, [change.id]);
        // Gone already: removed right after it was added; the remove notification follows.
        if (rows[0]) this.hooks.upsert(toRule(rows[0]));
      } catch (e) {
        this.hooks.fail(`${this.where}: cannot read revocation ${change.id}: ${describeThrown(e)}`);
        this.lost(this.listener, e);
      }
    });
  }

  /** Inserts and notifies in one transaction; resolves once committed, and the rule is in force here. */
  add(rule: Revocation): Promise<void> {
    return this.exclusive(() =>
      this.transaction(async (c) => {
        await c.query(`INSERT INTO toolgate_revocations (${COLUMNS}, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
          rule.id,
          rule.kind,
          rule.value,
          rule.issued_before ?? null,
          rule.issuer ?? null,
          rule.reason ?? null,
          rule.created_at,
          this.instanceId,
        ]);
        await c.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify({ op: 'add', id: rule.id } satisfies Change)]);
        return true;
      }).then(() => this.hooks.upsert(rule)),
    );
  }

  /** Deletes and notifies in one transaction; false when there was no such rule. */
  remove(id: string): Promise<boolean> {
    return this.exclusive(async () => {
      const found = await this.transaction(async (c) => {
        const del = await c.query('DELETE FROM toolgate_revocations WHERE id = $1', [id]);
        if (!del.rowCount) return false;
        await c.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, JSON.stringify({ op: 'remove', id } satisfies Change)]);
        return true;
      });
      if (found) this.hooks.drop(id);
      return found;
    });
  }

  private async transaction(fn: (c: pg.PoolClient) => Promise<boolean>): Promise<boolean> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      c.release();
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      c.release(true);
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.reconnect);
    const l = this.listener;
    this.listener = undefined;
    this.listening = false;
    await this.lock;
    if (l) await l.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
