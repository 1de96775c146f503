import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { ToolgateError, describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { PolicyLoadError } from '../evaluator/errors.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { readBundleArchive, type BundleFiles } from '../policy-compiler/bundle-archive.js';
import { PolicyBuildError } from '../policy-compiler/errors.js';
import { describeOutcome, paritySummary } from '../policy-compiler/parity.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { buildPolicyBundle } from '../policy-compiler/policy-builder.js';
import type { ActivationFailure, ActivePolicy, PolicySource } from './active-policy.js';
import { fetchBundle } from './bundle-fetcher.js';
import { loadBundleKeys, verifyBundleSignature } from './bundle-signature.js';
import { bundleContentHash } from './content-hash.js';
import { workerLink } from '../cluster/worker-link.js';

/** Reload outcomes, for metrics. */
export type ActivationListener = (result: 'success' | 'failure', active?: ActivePolicy) => void;

/**
 * Holds the one active policy revision and replaces it when a new one is good.
 * Sources: Rego built from a directory (watched with chokidar), a bundle file
 * (watched), or a bundle URL (polled with ETags). Activation loads the new
 * revision fully, then swaps one reference; any failure keeps the previous
 * revision (last-known-good) and is recorded for /v1/status. Activations are
 * serialized; bursts of file events are debounced and coalesced.
 */
@Injectable()
export class PolicyStore implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('PolicyStore');
  private active?: ActivePolicy;
  private lastFailure?: ActivationFailure;
  private readonly history: { revision: string; contentHash: string; loadedAt: Date; source: PolicySource }[] = [];
  private readonly listeners: ActivationListener[] = [];
  private readonly bundleKeys?: Map<string, { alg: string; key: KeyObject }>;
  private chain: Promise<unknown> = Promise.resolve();
  private watcher?: FSWatcher;
  private debounce?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private reloading = false;
  private reloadPending = false;
  private etag?: string;
  private lastPoll?: { at: Date; result: string };
  private stopped = false;

  constructor(private readonly config: ToolgateConfig) {
    const signing = config.policy.bundle?.signing;
    if (signing) this.bundleKeys = loadBundleKeys(signing);
    if (this.unsignedUrl()) this.log.warn(UNSIGNED_WARNING);
  }

  /** A URL source whose operator opted out of signatures: warned about at startup, on each activation and in /v1/status. */
  private unsignedUrl(): boolean {
    const b = this.config.policy.mode === 'bundle' ? this.config.policy.bundle : undefined;
    return !!b?.url && !b.signing && b.allow_unsigned;
  }

  /** The active policy, or undefined when none has loaded (not ready: deny everything). */
  current(): ActivePolicy | undefined {
    return this.active;
  }

  onActivation(listener: ActivationListener): void {
    this.listeners.push(listener);
  }

  async onApplicationBootstrap(): Promise<void> {
    // workers (src/cluster): a cluster worker takes bundles its primary built and verified; it never builds, fetches or watches.
    const link = workerLink();
    if (link) return link.attachPolicyStore(this);
    await this.loadConfigured();
    await this.startWatching();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    clearTimeout(this.pollTimer);
    await this.watcher?.close();
    await this.chain.catch(() => undefined);
  }

  /** Builds, reads or fetches the configured policy once and activates it if good. */
  async loadConfigured(): Promise<ActivePolicy | undefined> {
    const p = this.config.policy;
    if (p.mode === 'source') {
      const src = p.source;
      return this.attempt({ kind: 'source', location: src.policies }, async () => {
        const built = await buildPolicyBundle({ policyDir: src.policies, testDir: src.tests, outDir: src.out, runTests: src.test_gate });
        // The parity step (tests through the wasm runtime) refuses divergences by throwing; what it could not check is logged.
        if (built.parity) this.log.log(paritySummary(built.parity));
        for (const o of built.parity?.outcomes ?? []) if (o.status === 'not_checked') this.log.warn(describeOutcome(o));
        return built.files;
      });
    }
    const b = p.bundle!;
    if (b.path) {
      const path = b.path;
      return this.attempt({ kind: 'bundle', location: path }, async () => this.openBundle(await readFile(path)));
    }
    return this.poll();
  }

  private async poll(): Promise<ActivePolicy | undefined> {
    const b = this.config.policy.bundle!;
    const url = b.url!;
    let etag: string | undefined;
    const result = await this.attempt({ kind: 'bundle', location: url }, async () => {
      const res = await fetchBundle(url, this.active ? this.etag : undefined, b.timeout_ms, b.max_bytes);
      if (res.status === 'not_modified') {
        this.lastPoll = { at: new Date(), result: 'not_modified' };
        return undefined;
      }
      this.lastPoll = { at: new Date(), result: 'downloaded' };
      etag = res.etag;
      if (!this.bundleKeys && !b.allow_unsigned) {
        // Config validation refuses this; kept so no other construction path can skip signatures.
        throw new PolicyBuildError('bundle_signature_required', 'verify', 'bundles from a URL must be signed: configure policy.bundle.signing');
      }
      return this.openBundle(res.body);
    });
    if (result && etag !== undefined) this.etag = etag;
    return result;
  }

  /** Unpacks a bundle and, when keys are configured, verifies its signature before anything loads. */
  private async openBundle(archive: Buffer): Promise<BundleFiles> {
    const files = readBundleArchive(archive);
    if (this.bundleKeys) {
      const sig = await verifyBundleSignature(files, this.bundleKeys, this.config.policy.bundle?.signing?.scope);
      this.log.log(`bundle signature verified (key ${sig.keyid}, ${sig.files.length} files)`);
    }
    return files;
  }

  /** Starts the watcher or poller; resolves once a watcher has finished its initial scan, so no edit is missed. */
  private async startWatching(): Promise<void> {
    const p = this.config.policy;
    if (p.mode === 'source' && p.source.watch) {
      await this.watch([p.source.policies, p.source.tests], p.source.debounce_ms);
    } else if (p.mode === 'bundle' && p.bundle?.path) {
      await this.watch([p.bundle.path], 100);
    } else if (p.mode === 'bundle' && p.bundle?.url) {
      const every = p.bundle.poll_interval_s * 1000;
      const tick = () => {
        this.pollTimer = setTimeout(() => {
          void this.poll().finally(() => {
            if (!this.stopped) tick();
          });
        }, every);
        this.pollTimer.unref();
      };
      tick();
    }
  }

  private async watch(paths: string[], debounceMs: number): Promise<void> {
    this.watcher = watch(paths, {
      ignoreInitial: true,
      // An edit is seen once the file has stopped changing, never half-written (a truncate
      // followed by a write otherwise surfaces as two events, the second one throttled away).
      awaitWriteFinish: { stabilityThreshold: 40, pollInterval: 10 },
      // Editor swap and backup files are not policy.
      ignored: (p: string) => /(^|[/\\])\.#|~$|\.sw[px]$|(^|[/\\])4913$/.test(p),
    });
    this.watcher.on('all', () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), debounceMs);
    });
    this.watcher.on('error', (e) => this.log.error(`watcher error: ${describeThrown(e)}`));
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  /** Rebuilds after file events; events during a rebuild cause exactly one more. */
  private async reload(): Promise<void> {
    if (this.stopped) return;
    if (this.reloading) {
      this.reloadPending = true;
      return;
    }
    this.reloading = true;
    try {
      do {
        this.reloadPending = false;
        await this.loadConfigured();
      } while (this.reloadPending && !this.stopped);
    } finally {
      this.reloading = false;
    }
  }

  /**
   * Produces bundle files, loads them and swaps them in. `produce` returning
   * undefined means "nothing new" (e.g. HTTP 304). Runs one at a time.
   */
  attempt(source: PolicySource, produce: () => Promise<BundleFiles | undefined>): Promise<ActivePolicy | undefined> {
    const run = this.chain.then(async () => {
      try {
        const files = await produce();
        if (!files) return this.active;
        // Identity is the content, never the manifest's label: two builds without
        // --revision are both `unversioned`, and the second must still activate.
        const contentHash = bundleContentHash(files);
        if (this.active && this.active.contentHash === contentHash) {
          // The same files again (a touched file, a re-served bundle): nothing to swap. The
          // source now holds exactly what is active, so an earlier failure is over.
          this.lastFailure = undefined;
          return this.active;
        }
        const next = await this.load(files, source, contentHash);
        this.active = next;
        this.lastFailure = undefined;
        this.history.unshift({ revision: next.revision, contentHash, loadedAt: next.loadedAt, source });
        this.history.length = Math.min(this.history.length, this.config.policy.history);
        this.log.log(`activated policy revision ${next.revision} (${contentHash}) from ${source.kind} ${source.location}`);
        if (this.unsignedUrl()) this.log.warn(UNSIGNED_WARNING);
        for (const l of this.listeners) l('success', next);
        return next;
      } catch (e) {
        this.lastFailure = toFailure(e, source);
        const keep = this.active ? `keeping revision ${this.active.revision}` : 'no policy is active: every decision is refused (503)';
        this.log.error(`policy activation failed at ${this.lastFailure.step}: ${this.lastFailure.message}; ${keep}`);
        for (const l of this.listeners) l('failure');
        return undefined;
      }
    });
    this.chain = run;
    return run;
  }

  private async load(files: BundleFiles, source: PolicySource, contentHash: string): Promise<ActivePolicy> {
    const wasm = files.get('/policy.wasm');
    if (!wasm) throw new PolicyLoadError('load_invalid_wasm', 'the bundle has no /policy.wasm');
    let manifest: { revision?: unknown } = {};
    let data: unknown = {};
    try {
      const m = files.get('/.manifest');
      if (m) manifest = JSON.parse(m.toString('utf8'));
      const d = files.get('/data.json');
      if (d) data = JSON.parse(d.toString('utf8'));
    } catch (e) {
      throw new PolicyLoadError('load_data_invalid', `bundle data or manifest is not valid JSON: ${describeThrown(e)}`);
    }
    const revision = typeof manifest.revision === 'string' && manifest.revision ? manifest.revision : 'unversioned';
    const policy = await WasmPolicy.load(wasm, data, {
      requiredEntrypoints: [DECISION_ENTRYPOINT],
      maxMemoryPages: this.config.policy.max_memory_pages,
    });
    return { policy, revision, contentHash, loadedAt: new Date(), source, files };
  }

  /** What the status endpoint reports. */
  status() {
    return {
      active: this.active
        ? { revision: this.active.revision, content_hash: this.active.contentHash, loaded_at: this.active.loadedAt.toISOString(), source: this.active.source }
        : null,
      warnings: this.unsignedUrl() ? [UNSIGNED_WARNING] : [],
      last_failure: this.lastFailure ? { ...this.lastFailure, at: this.lastFailure.at.toISOString() } : null,
      last_poll: this.lastPoll ? { at: this.lastPoll.at.toISOString(), result: this.lastPoll.result, etag: this.etag ?? null } : undefined,
      history: this.history.map((h) => ({ revision: h.revision, content_hash: h.contentHash, loaded_at: h.loadedAt.toISOString(), source: h.source })),
    };
  }
}

const UNSIGNED_WARNING =
  'policy.bundle.allow_unsigned is set: bundles from policy.bundle.url are activated WITHOUT a signature check; whoever can answer that URL decides every authorization';

function toFailure(e: unknown, source: PolicySource): ActivationFailure {
  if (e instanceof PolicyBuildError) {
    return { at: new Date(), step: e.step, code: e.code, message: e.message, problems: e.problems, source };
  }
  if (e instanceof ToolgateError) {
    return { at: new Date(), step: 'load', code: e.code, message: e.message, problems: [], source };
  }
  return { at: new Date(), step: 'load', code: 'load_failed', message: describeThrown(e), problems: [], source };
}
