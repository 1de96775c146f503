import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { watch, type FSWatcher } from 'chokidar';
import { ConfigError, describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import type { VerifiedToken } from './token-verifier.js';

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

const KINDS: RevocationKind[] = ['jti', 'sub', 'client_id'];

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

/**
 * Server-side revocation, checked on every decision after the verified-token
 * cache. Rules live in a JSON file written atomically (temp file + rename),
 * reloaded when edited by hand, and kept across restarts. A change made through
 * the API is in memory and on disk before the API answers.
 */
@Injectable()
export class RevocationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('RevocationService');
  private rules: Revocation[] = [];
  private index = new Map<string, Revocation[]>();
  private lastWritten = '';
  private watcher?: FSWatcher;
  private lastError: string | null = null;
  /** Writes and reloads run one at a time, so a reload can never read a file older than the last write and undo it. */
  private lock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  constructor(config: ToolgateConfig) {
    this.file = config.revocation.file;
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
      } catch (e) {
        throw new ConfigError(`revocation.file: ${this.file} is invalid: ${describeThrown(e)}`);
      }
    }
  }

  private readonly file: string;

  async onApplicationBootstrap(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    // awaitWriteFinish: an editor's write is seen once complete, never half-truncated.
    this.watcher = watch(path.dirname(this.file), {
      ignoreInitial: true,
      depth: 0,
      awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 },
    });
    this.watcher.on('all', (_e, p) => {
      if (path.resolve(p) === path.resolve(this.file)) void this.reloadFromDisk();
    });
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.watcher?.close();
  }

  /** The matching revocation for a verified token, if any. */
  check(token: VerifiedToken): Revocation | undefined {
    if (this.rules.length === 0) return undefined;
    const c = token.claims as Record<string, unknown>;
    const iat = typeof c.iat === 'number' ? c.iat : undefined;
    for (const kind of KINDS) {
      const v = kind === 'client_id' ? (c.client_id ?? c.azp) : c[kind];
      if (typeof v !== 'string') continue;
      for (const r of this.index.get(`${kind}\0${v}`) ?? []) {
        if (r.issuer && r.issuer !== token.issuer) continue;
        if (r.issued_before !== undefined && iat !== undefined && iat >= r.issued_before) continue;
        return r;
      }
    }
    return undefined;
  }

  list(): Revocation[] {
    return [...this.rules];
  }

  /** Adds a rule; effective for the next decision once this resolves. */
  async add(r: Omit<Revocation, 'id' | 'created_at'>): Promise<Revocation> {
    const rule: Revocation = { ...r, id: randomUUID(), created_at: new Date().toISOString() };
    await this.exclusive(() => this.write([...this.rules, rule]));
    return rule;
  }

  /** Removes a rule; false when there is none with that id. */
  remove(id: string): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.rules.some((r) => r.id === id)) return false;
      await this.write(this.rules.filter((r) => r.id !== id));
      return true;
    });
  }

  status() {
    return { file: this.file, count: this.rules.length, last_error: this.lastError };
  }

  private async write(next: Revocation[]): Promise<void> {
    const text = JSON.stringify({ version: 1, revocations: next } satisfies RevocationFile, null, 2) + '\n';
    const tmp = `${this.file}.${process.pid}.${createHash('sha256').update(text).digest('hex').slice(0, 8)}.tmp`;
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, this.file);
    this.lastWritten = text;
    this.replace(next);
  }

  private reloadFromDisk(): Promise<void> {
    return this.exclusive(() => this.read());
  }

  private async read(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.lastError = describeThrown(e);
      return;
    }
    if (text === this.lastWritten) return;
    try {
      this.replace(validate(JSON.parse(text)));
      this.lastWritten = text;
      this.lastError = null;
      this.log.log(`reloaded ${this.rules.length} revocations from ${this.file}`);
    } catch (e) {
      // Keep enforcing the rules we have; a broken edit must not un-revoke anything.
      this.lastError = `${this.file} is invalid, keeping ${this.rules.length} rules: ${describeThrown(e)}`;
      this.log.error(this.lastError);
    }
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
