import { Injectable, Logger, NotFoundException, type OnApplicationShutdown } from '@nestjs/common';
import path from 'node:path';
import type { DecisionEvent } from '../audit/decision-event.js';
import { workerLink } from '../cluster/worker-link.js';
import { StoreUnavailableError, describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { ShadowService } from '../shadow/shadow.service.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { TokenService } from '../token/token.service.js';
import { FileDecisionSource } from './decision-files.js';
import { PostgresDecisionSource } from './decision-postgres.js';
import type { DecisionFilter } from './decision-query.js';
import type { DecisionPage, DecisionSource, Rates } from './decision-source.js';
import { diffFiles, RevisionArchive, type FileDiff, type SourceFile } from './revision-archive.js';
import { listReports, readReport, ReportCache, type ReportEntry } from './reports.js';

/** The overview's rate window: the last ten minutes in ten-second buckets. */
const RATE_WINDOW_S = 600;
const RATE_BUCKET_S = 10;
/** Diffs kept: enough for a person paging through recent revisions. */
const DIFF_CACHE_ENTRIES = 16;

/**
 * What the admin read API answers: recorded decisions (file sink or PostgreSQL
 * store), revisions and their sources, shadow status and reports. Reads only;
 * never touches the decision path.
 */
@Injectable()
export class ConsoleApiService implements OnApplicationShutdown {
  private readonly log = new Logger('ConsoleApi');
  private readonly source?: DecisionSource;
  /** Computed diffs by "from to" content hashes, oldest first. */
  private readonly diffs = new Map<string, FileDiff[]>();
  private readonly reportCache = new ReportCache();

  constructor(
    private readonly config: ToolgateConfig,
    private readonly store: PolicyStore,
    private readonly archive: RevisionArchive,
    private readonly shadowService: ShadowService,
    private readonly tokens: TokenService,
    private readonly metrics: MetricsService,
  ) {
    // PostgreSQL holds every replica's decisions for the whole retention: preferred when configured.
    const d = config.decision_logs;
    if (d.postgres) {
      // A raw subject is searched by its fingerprint under each issuer toolgate knows (the indexed column).
      const issuers = [...config.issuers.map((i) => i.issuer), ...(config.admin ? [config.admin.issuer] : [])];
      this.source = new PostgresDecisionSource(d.postgres, (e) => this.log.warn(`decision store: ${e.message}`), issuers);
    }
    // A cluster worker's config names its own file (`<path>.w<slot>`, src/cluster/worker.ts); the console reads every worker's.
    else if (d.file) this.source = new FileDecisionSource(workerLink() ? d.file.path.replace(/\.w\d+$/, '') : d.file.path);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.source instanceof PostgresDecisionSource) await this.source.close().catch(() => undefined);
  }

  /** Runs a read against the decision source; a database failure is a 503, never a 500. */
  private async read<T>(what: string, run: (s: DecisionSource) => Promise<T>): Promise<T> {
    const s = this.source;
    if (!s) throw new StoreUnavailableError('decision_log_unavailable', 'no decision log to read: configure decision_logs.file or decision_logs.postgres');
    try {
      return await run(s);
    } catch (e) {
      if (s.name === 'postgres') {
        this.log.warn(`${what}: ${describeThrown(e)}`);
        throw new StoreUnavailableError('decision_store_unavailable', 'the PostgreSQL decision store cannot be read now; retry later');
      }
      throw e;
    }
  }

  decisions(f: DecisionFilter): Promise<DecisionPage> {
    return this.read('decision search', (s) => s.search(f));
  }

  async decision(id: string): Promise<{ event: DecisionEvent; shadow: DecisionEvent['shadow'] | null }> {
    const event = await this.read('decision lookup', (s) => s.get(id));
    if (!event) throw new NotFoundException(`no recorded decision ${id} (the file source searches only recent events)`);
    return { event, shadow: event.shadow ?? null };
  }

  async overview() {
    const st = this.store.status();
    const now = Date.now();
    const rates: Rates = this.source
      ? await this.read('decision rates', (s) => s.rates(now, RATE_WINDOW_S, RATE_BUCKET_S))
      : { source: null, bucket_s: RATE_BUCKET_S, window_s: RATE_WINDOW_S, buckets: [] };
    const lookups = await this.metrics.tokenCache.get();
    const count = (result: string) => lookups.values.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
    const a = st.active;
    return {
      // `label` is the manifest's revision label (as the console contract names it); content_hash is the identity.
      revision: a ? { label: a.revision, content_hash: a.content_hash, loaded_at: a.loaded_at, source: a.source } : null,
      last_failure: st.last_failure,
      warnings: st.warnings,
      rates,
      token_cache: {
        entries: this.tokens.verifier.cacheSize,
        max_entries: this.config.token_cache.max_entries,
        // This process's lookups since start (with workers, the worker that answered).
        hits: count('hit'),
        misses: count('miss'),
      },
      jwks: this.tokens.verifier.keySources().map((k) => k.health()),
      shadow: this.shadowService.status() ?? null,
    };
  }

  revisions() {
    const st = this.store.status();
    return {
      active: st.active?.content_hash ?? null,
      revisions: st.history.map((h) => ({ ...h, has_sources: this.archive.has(h.content_hash) })),
    };
  }

  private kept(contentHash: string): { revision: string; files: SourceFile[] } {
    const files = this.archive.sources(contentHash);
    if (!files) throw new NotFoundException(`no sources kept for revision ${contentHash} (the last ${this.config.policy.history} activations are kept)`);
    const h = this.store.status().history.find((x) => x.content_hash === contentHash);
    return { revision: h?.revision ?? 'unknown', files };
  }

  sources(contentHash: string): { revision: string; content_hash: string; files: SourceFile[] } {
    const k = this.kept(contentHash);
    return { revision: k.revision, content_hash: contentHash, files: k.files };
  }

  diff(from: string, to: string): { from: { revision: string; content_hash: string }; to: { revision: string; content_hash: string }; files: FileDiff[] } {
    const a = this.kept(from);
    const b = this.kept(to);
    // Content hashes name immutable sources: a diff computed once stays right, and is the costly part.
    const key = `${from} ${to}`;
    let files = this.diffs.get(key);
    if (!files) {
      files = diffFiles(a.files, b.files, 'a', 'b');
      this.diffs.set(key, files);
      while (this.diffs.size > DIFF_CACHE_ENTRIES) this.diffs.delete(this.diffs.keys().next().value as string);
    }
    return {
      from: { revision: a.revision, content_hash: from },
      to: { revision: b.revision, content_hash: to },
      files,
    };
  }

  shadow(): Record<string, unknown> {
    const s = this.shadowService.status();
    return s ? { enabled: true, ...s } : { enabled: false };
  }

  private get reportsDir(): string {
    return path.resolve(this.config.console.reports_dir);
  }

  async reports(): Promise<{ reports: ReportEntry[] }> {
    return { reports: await listReports(this.reportsDir, this.reportCache) };
  }

  /** The report file's JSON bytes, as written. */
  async report(name: string): Promise<Buffer> {
    const doc = await readReport(this.reportsDir, name, this.reportCache);
    if (doc === undefined) throw new NotFoundException(`no report ${name}`);
    return doc;
  }
}
