import { randomUUID } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigError, describeThrown, StoreUnavailableError } from '../common/errors.js';
import { ToolgateConfig, type RevocationConfig } from '../config/config.schema.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { RevocationMetrics, type StoreProblem } from './revocation-metrics.js';
import { validateRevocationFile, writeRevocationFile } from './revocation-file.js';
import { PostgresRevocationStore } from './revocation-postgres.js';
import { CLIENT_CLAIMS } from './client-id.js';
import { TokenError } from './token-errors.js';
import type { VerifiedToken } from './token-verifier.js';
import { workerLink } from '../cluster/worker-link.js';

/** What a revocation matches on. */
export type RevocationKind = 'jti' | 'sub' | 'client_id';

/** One revocation rule. With `issued_before`, only tokens issued (iat) before it are revoked. */
export interface Revocation {
  id: string;
  kind: RevocationKind;
  value: string;
  /** Epoch seconds; tokens with `iat` before this (or no `iat`) are revoked. */
  issued_before?: number;
  /** Limit the rule to tokens of this issuer. */
  issuer?: string;
  reason?: string;
  created_at: string;
}

/** Quiet time after the last event on the file before it is reloaded. */
const SETTLE_MS = 100;

// A `client_id` rule matches when any client claim present equals its value, so no claim name lets a revoked client through.
export { CLIENT_CLAIMS };

/** What /v1/status shows of the revocation store. */
export interface RevocationStatus {
  backend: 'file' | 'postgres';
  /** File mode: the rule file. */
  file?: string;
  /** Postgres mode: where (no password), and whether the LISTEN connection is up. */
  postgres?: { url: string; listening: boolean };
  /** Rules in force. */
  count: number;
  /** When the rules in force were last read from or written to the store (null: none yet, no file at startup). */
  last_loaded_at: string | null;
  /** When the store was last read or written successfully (null: never, the rules are unknown). */
  refreshed_at: string | null;
  /** Seconds since `refreshed_at` (null: never refreshed). */
  staleness_s: number | null;
  max_staleness_s: number;
  /** True past `max_staleness_s`; decisions are then refused with `revocation_stale` unless `on_stale` is `serve`. */
  stale: boolean;
  on_stale: 'deny' | 'serve';
  /** `ok`, or why the store could not be read; the rules in force are then the last ones loaded. */
  state: 'ok' | StoreProblem;
  last_error: string | null;
}

/**
 * Server-side revocation, checked for every token toolgate accepts, after the
 * verified-token cache. Rules live in a JSON file (the default: written
 * atomically and durably, reloaded when edited, re-read on a timer) or in
 * PostgreSQL, shared by every replica (see PostgresRevocationStore). A change
 * made through the API is in memory and durable before the API answers. A
 * store that cannot be read leaves the last loaded rules in force, reported
 * in /v1/status and metrics; once they are older than
 * `revocation.max_staleness_s`, tokens are refused with `revocation_stale`
 * (unless `on_stale: serve`), since revocations made meanwhile are unknown.
 */
@Injectable()
export class RevocationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('RevocationService');
  private readonly cfg: RevocationConfig;
  private rules: Revocation[] = [];
  private index = new Map<string, Revocation[]>();
  private lastWritten = '';
  private watcher?: FSWatcher;
  private settle?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private lastError: string | null = null;
  private problem?: StoreProblem;
  private loadedAt?: Date;
  /** Epoch ms of the last successful read or write of the store. */
  private refreshedAt?: number;
  private readonly metrics?: RevocationMetrics;
  private readonly pg?: PostgresRevocationStore;
  /** Writes and reloads run one at a time, so a reload can never read a file older than the last write and undo it. */
  private lock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  constructor(config: ToolgateConfig, @Optional() metrics?: MetricsService) {
    this.cfg = config.revocation;
    this.file = config.revocation.file;
    if (metrics) {
      this.metrics = new RevocationMetrics(metrics.registry, () => ({
        rules: this.rules.length,
        healthy: !this.problem,
        stalenessSeconds: this.staleness(),
        stale: this.isStale(),
      }));
    }
    if (this.cfg.postgres) {
      this.pg = new PostgresRevocationStore(this.cfg.postgres, config.instance_id, {
        replace: (rules) => {
          this.replace(rules);
          this.loaded();
        },
        upsert: (rule) => this.replace([...this.rules.filter((r) => r.id !== rule.id), rule]),
        drop: (id) => this.replace(this.rules.filter((r) => r.id !== id)),
        fail: (message) => this.fail('unreachable', message),
      });
      return;
    }
    // Read synchronously so no decision can run before the rules are known; a corrupt file stops startup.
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`revocation.file: cannot read ${this.file}: ${(e as Error).message}`);
    }
    if (text !== undefined) {
      try {
        this.replace(validateRevocationFile(JSON.parse(text)));
        this.lastWritten = text;
        this.loadedAt = new Date();
      } catch (e) {
        throw new ConfigError(`revocation.file: ${this.file} is invalid: ${describeThrown(e)}`);
      }
    }
    this.refreshedAt = Date.now();
  }

  private readonly file: string;

  async onApplicationBootstrap(): Promise<void> {
    if (this.pg) {
      await this.pg.start();
      return;
    }
    const dir = path.dirname(this.file);
    const base = path.basename(this.file);
    await mkdir(dir, { recursive: true });
    // The directory, not the file: a rename over it, a delete or a replacement by
    // something unreadable all show up here. A burst of events (an editor's save,
    // our own temp file + rename) settles before one reload, so a half-written
    // edit is not read.
    this.watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base) return;
      clearTimeout(this.settle);
      this.settle = setTimeout(() => void this.reloadFromDisk(), SETTLE_MS);
    });
    this.watcher.on('error', (e) => this.fail('unreadable', `cannot watch ${dir}: ${describeThrown(e)}; keeping the ${this.rules.length} rules in force`));
    // Events can be missed (network filesystems, a watcher that failed); a periodic read also keeps the staleness meaningful.
    this.resyncTimer = setInterval(() => void this.reloadFromDisk(), this.cfg.file_resync_interval_s * 1000);
    this.resyncTimer.unref();
    // Startup (a policy build) may have taken longer than the staleness limit since the constructor read the file.
    await this.reloadFromDisk();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.settle);
    clearInterval(this.resyncTimer);
    this.watcher?.close();
    await this.pg?.stop();
    await this.lock;
  }

  /** The matching revocation for a verified token, if any. */
  check(token: VerifiedToken): Revocation | undefined {
    if (this.rules.length === 0) return undefined;
    const c = token.claims as Record<string, unknown>;
    const iat = typeof c.iat === 'number' ? c.iat : undefined;
    const hit = this.match('jti', c.jti, token.issuer, iat) ?? this.match('sub', c.sub, token.issuer, iat);
    if (hit) return hit;
    for (const claim of CLIENT_CLAIMS) {
      const r = this.match('client_id', c[claim], token.issuer, iat);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Throws `revocation_stale` when the rules are older than the limit and
   * `on_stale` is `deny`: a token revoked meanwhile would not be known, so no
   * token can be vouched for.
   */
  assertFresh(): void {
    if (this.cfg.on_stale === 'serve' || !this.isStale()) return;
    this.metrics?.staleDenials.inc();
    const age = this.staleness();
    throw new TokenError(
      'revocation_stale',
      `revocations could not be refreshed for ${Number.isFinite(age) ? `${Math.round(age)} s` : 'ever since startup'} (limit ${this.cfg.max_staleness_s} s); denied until the store is reachable`,
    );
  }

  /** Seconds since the last successful refresh; Infinity when never. */
  private staleness(): number {
    return this.refreshedAt === undefined ? Infinity : (Date.now() - this.refreshedAt) / 1000;
  }

  private isStale(): boolean {
    return this.staleness() > this.cfg.max_staleness_s;
  }

  private match(kind: RevocationKind, value: unknown, issuer: string, iat: number | undefined): Revocation | undefined {
    if (typeof value !== 'string') return undefined;
    for (const r of this.index.get(`${kind}\0${value}`) ?? []) {
      if (r.issuer && r.issuer !== issuer) continue;
      if (r.issued_before !== undefined && iat !== undefined && iat >= r.issued_before) continue;
      return r;
    }
    return undefined;
  }

  list(): Revocation[] {
    return [...this.rules];
  }

  /** Adds a rule; effective for the next decision once this resolves (and, in Postgres, committed). */
  async add(r: Omit<Revocation, 'id' | 'created_at'>): Promise<Revocation> {
    // workers (src/cluster): the primary is the one writer, and every worker has reloaded before this resolves.
    const link = workerLink();
    if (link) return link.addRevocation(r);
    const rule: Revocation = { ...r, id: randomUUID(), created_at: new Date().toISOString() };
    if (this.pg) await this.database(() => this.pg!.add(rule));
    else await this.exclusive(() => this.write([...this.rules, rule]));
    return rule;
  }

  /** Removes a rule; false when there is none with that id. */
  remove(id: string): Promise<boolean> {
    // workers (src/cluster): the primary is the one writer, and every worker has reloaded before this resolves.
    const link = workerLink();
    if (link) return link.removeRevocation(id);
    if (this.pg) return this.database(() => this.pg!.remove(id));
    return this.exclusive(async () => {
      if (!this.rules.some((r) => r.id === id)) return false;
      await this.write(this.rules.filter((r) => r.id !== id));
      return true;
    });
  }

  /** A write the database did not take is a 503 for the admin, never a 500, and never reported as done. */
  private async database<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.log.error(`revocation write failed: ${describeThrown(e)}`);
      throw new StoreUnavailableError('revocation_store_unavailable', `the revocation database did not take the change: ${describeThrown(e)}`);
    }
  }

  status(): RevocationStatus {
    const age = this.staleness();
    return {
      backend: this.pg ? 'postgres' : 'file',
      ...(this.pg ? { postgres: { url: this.pg.where, listening: this.pg.connected } } : { file: this.file }),
      count: this.rules.length,
      last_loaded_at: this.loadedAt?.toISOString() ?? null,
      refreshed_at: this.refreshedAt === undefined ? null : new Date(this.refreshedAt).toISOString(),
      staleness_s: Number.isFinite(age) ? Math.round(age * 10) / 10 : null,
      max_staleness_s: this.cfg.max_staleness_s,
      stale: this.isStale(),
      on_stale: this.cfg.on_stale,
      state: this.problem ?? 'ok',
      last_error: this.lastError,
    };
  }

  private async write(next: Revocation[]): Promise<void> {
    this.lastWritten = await writeRevocationFile(this.file, next);
    this.replace(next);
    this.loaded();
  }

  /**
   * Reloads the rules from their store now (a cluster worker, told by its
   * primary that the rules changed): the database in Postgres mode, else the
   * file. Rejects when the reload did not succeed, so the worker does not
   * acknowledge a revocation it may not enforce.
   */
  async refresh(): Promise<void> {
    if (this.pg) await this.pg.resync();
    else await this.reloadFromDisk();
    if (this.problem !== undefined) throw new StoreUnavailableError('revocation_store_unavailable', this.lastError ?? 'the revocation store could not be reloaded');
  }

  private reloadFromDisk(): Promise<void> {
    return this.exclusive(() => this.read());
  }

  private async read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      // Gone or unreadable: keep enforcing what we have (an absent file must never un-revoke), and say so.
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      // No file yet and never one: a first start, not a lost file; nothing is unknown.
      if (missing && !this.loadedAt && this.rules.length === 0) {
        this.refreshedAt = Date.now();
        return;
      }
      this.fail(
        missing ? 'missing' : 'unreadable',
        `${this.file} ${missing ? 'has disappeared' : `cannot be read (${describeThrown(e)})`}, keeping the ${this.rules.length} rules last loaded`,
      );
      return;
    }
    if (text === this.lastWritten) {
      this.loaded();
      return;
    }
    try {
      this.replace(validateRevocationFile(JSON.parse(text)));
      this.lastWritten = text;
      this.loaded();
      this.log.log(`reloaded ${this.rules.length} revocations from ${this.file}`);
    } catch (e) {
      // Keep enforcing the rules we have; a broken edit must not un-revoke anything.
      this.fail('invalid', `${this.file} is invalid, keeping ${this.rules.length} rules: ${describeThrown(e)}`);
    }
  }

  private loaded(): void {
    this.loadedAt = new Date();
    this.refreshedAt = this.loadedAt.getTime();
    this.problem = undefined;
    this.lastError = null;
  }

  private fail(problem: StoreProblem, message: string): void {
    // Repeated failures of the same kind (a reconnect loop, the resync timer) are counted, logged once.
    if (this.problem !== problem || this.lastError !== message) this.log.error(message);
    this.problem = problem;
    this.lastError = message;
    this.metrics?.errors.inc({ reason: problem });
  }

  private replace(rules: Revocation[]): void {
    const index = new Map<string, Revocation[]>();
    for (const r of rules) {
      const k = `${r.kind}\0${r.value}`;
      index.set(k, [...(index.get(k) ?? []), r]);
    }
    this.rules = rules;
    this.index = index;
  }
}
