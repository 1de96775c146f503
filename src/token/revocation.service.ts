import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigError, describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { MetricsService } from '../health/metrics.service.js';
import { RevocationMetrics, type StoreProblem } from './revocation-metrics.js';
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

interface RevocationFile {
  version: 1;
  revocations: Revocation[];
}

/** Quiet time after the last event on the file before it is reloaded. */
const SETTLE_MS = 100;

const KINDS: RevocationKind[] = ['jti', 'sub', 'client_id'];

/**
 * Claims that name the client, across issuers: `client_id` (RFC 9068), `azp`
 * (OpenID), `cid` (Okta), `appid` (Entra ID v1). A `client_id` rule matches
 * when any of them present equals its value, so no claim name lets a revoked
 * client through.
 */
export const CLIENT_CLAIMS = ['client_id', 'azp', 'cid', 'appid'] as const;

/** What /v1/status shows of the revocation store. */
export interface RevocationStatus {
  file: string;
  /** Rules in force. */
  count: number;
  /** When the rules in force were last read from or written to the file (null: none yet, no file at startup). */
  last_loaded_at: string | null;
  /** `ok`, or why the file could not be read; the rules in force are then the last ones loaded. */
  state: 'ok' | StoreProblem;
  last_error: string | null;
}

function validate(raw: unknown): Revocation[] {
  const doc = raw as Partial<RevocationFile> | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.revocations)) throw new Error('expected {"version": 1, "revocations": [...]}');
  return doc.revocations.map((r, i) => {
    if (!r || typeof r !== 'object') throw new Error(`revocations[${i}] is not an object`);
    if (!KINDS.includes(r.kind)) throw new Error(`revocations[${i}].kind must be one of ${KINDS.join(', ')}`);
    if (typeof r.value !== 'string' || !r.value) throw new Error(`revocations[${i}].value must be a non-empty string`);
    if (r.issued_before !== undefined && typeof r.issued_before !== 'number') throw new Error(`revocations[${i}].issued_before must be epoch seconds`);
    return { ...r, id: typeof r.id === 'string' && r.id ? r.id : randomUUID(), created_at: r.created_at ?? new Date().toISOString() };
  });
}

/** fsync a directory so a rename in it survives a crash; some platforms cannot, which is no error there. */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh.close();
  }
}

/**
 * Server-side revocation, checked for every token toolgate accepts, after the
 * verified-token cache. Rules live in a JSON file written atomically and
 * durably (temp file, fsync, rename, fsync of the directory), reloaded when
 * edited by hand, and kept across restarts. A change made through the API is
 * in memory and on disk before the API answers. A file that disappears, turns
 * unreadable or invalid while running leaves the last loaded rules in force,
 * reported in /v1/status and metrics.
 */
@Injectable()
export class RevocationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('RevocationService');
  private rules: Revocation[] = [];
  private index = new Map<string, Revocation[]>();
  private lastWritten = '';
  private watcher?: FSWatcher;
  private settle?: NodeJS.Timeout;
  private lastError: string | null = null;
  private problem?: StoreProblem;
  private loadedAt?: Date;
  private readonly metrics?: RevocationMetrics;
  /** Writes and reloads run one at a time, so a reload can never read a file older than the last write and undo it. */
  private lock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  constructor(config: ToolgateConfig, @Optional() metrics?: MetricsService) {
    this.file = config.revocation.file;
    if (metrics) this.metrics = new RevocationMetrics(metrics.registry, () => ({ rules: this.rules.length, healthy: !this.problem }));
    // Read synchronously so no decision can run before the rules are known; a corrupt file stops startup.
    let text: string | undefined;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`revocation.file: cannot read ${this.file}: ${(e as Error).message}`);
    }
    if (text !== undefined) {
      try {
        this.replace(validate(JSON.parse(text)));
        this.lastWritten = text;
        this.loadedAt = new Date();
      } catch (e) {
        throw new ConfigError(`revocation.file: ${this.file} is invalid: ${describeThrown(e)}`);
      }
    }
  }

  private readonly file: string;

  async onApplicationBootstrap(): Promise<void> {
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
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.settle);
    this.watcher?.close();
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

  /** Adds a rule; effective for the next decision once this resolves. */
  async add(r: Omit<Revocation, 'id' | 'created_at'>): Promise<Revocation> {
    // workers (src/cluster): the primary is the one writer, and every worker has reloaded before this resolves.
    const link = workerLink();
    if (link) return link.addRevocation(r);
    const rule: Revocation = { ...r, id: randomUUID(), created_at: new Date().toISOString() };
    await this.exclusive(() => this.write([...this.rules, rule]));
    return rule;
  }

  /** Removes a rule; false when there is none with that id. */
  remove(id: string): Promise<boolean> {
    const link = workerLink();
    if (link) return link.removeRevocation(id);
    return this.exclusive(async () => {
      if (!this.rules.some((r) => r.id === id)) return false;
      await this.write(this.rules.filter((r) => r.id !== id));
      return true;
    });
  }

  status(): RevocationStatus {
    return {
      file: this.file,
      count: this.rules.length,
      last_loaded_at: this.loadedAt?.toISOString() ?? null,
      state: this.problem ?? 'ok',
      last_error: this.lastError,
    };
  }

  /**
   * Durable before the API answers: the temp file is fsynced before the rename
   * and the directory after it, so a crash or power loss leaves either the old
   * file or the new one, never an empty or missing one.
   */
  private async write(next: Revocation[]): Promise<void> {
    const text = JSON.stringify({ version: 1, revocations: next } satisfies RevocationFile, null, 2) + '\n';
    const dir = path.dirname(this.file);
    const tmp = `${this.file}.${process.pid}.${createHash('sha256').update(text).digest('hex').slice(0, 8)}.tmp`;
    await mkdir(dir, { recursive: true });
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await syncDirectory(dir);
    this.lastWritten = text;
    this.replace(next);
    this.loaded();
  }

  /** Re-reads the file now (a cluster worker, told by its primary that the rules changed). */
  refresh(): Promise<void> {
    return this.reloadFromDisk();
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
      // No file yet and never one: a first start, not a lost file.
      if (missing && !this.loadedAt && this.rules.length === 0) return;
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
      this.replace(validate(JSON.parse(text)));
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
    this.problem = undefined;
    this.lastError = null;
  }

  private fail(problem: StoreProblem, message: string): void {
    this.problem = problem;
    this.lastError = message;
    this.metrics?.errors.inc({ reason: problem });
    this.log.error(message);
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
