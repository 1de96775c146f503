import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { ToolgateError, describeThrown } from '../common/errors.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { PolicyLoadError } from '../evaluator/errors.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import { readBundleArchive, type BundleFiles } from '../policy-compiler/bundle-archive.js';
import { PolicyBuildError } from '../policy-compiler/errors.js';
import { buildPolicyBundle, DECISION_ENTRYPOINT } from '../policy-compiler/policy-builder.js';
import type { ActivationFailure, ActivePolicy, PolicySource } from './active-policy.js';

const HISTORY = 20;

/** Reload outcomes, for metrics. */
export type ActivationListener = (result: 'success' | 'failure', active?: ActivePolicy) => void;

/**
 * Holds the one active policy revision. Activation loads the new revision
 * fully before swapping a single reference; any failure leaves the previous
 * revision active (last-known-good) and is recorded for the status endpoint.
 */
@Injectable()
export class PolicyStore implements OnApplicationBootstrap {
  private readonly log = new Logger('PolicyStore');
  private active?: ActivePolicy;
  private lastFailure?: ActivationFailure;
  private readonly history: { revision: string; loadedAt: Date; source: PolicySource }[] = [];
  private readonly listeners: ActivationListener[] = [];

  constructor(private readonly config: ToolgateConfig) {}

  /** The active policy, or undefined when none has loaded (not ready: deny everything). */
  current(): ActivePolicy | undefined {
    return this.active;
  }

  onActivation(listener: ActivationListener): void {
    this.listeners.push(listener);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.loadConfigured();
  }

  /** Builds (source mode) or reads (bundle mode) the configured policy and activates it. */
  async loadConfigured(): Promise<ActivePolicy | undefined> {
    const p = this.config.policy;
    if (p.mode === 'bundle') {
      const location = p.bundle!.path;
      return this.attempt({ kind: 'bundle', location }, async () => readBundleArchive(await readFile(location)));
    }
    const src = p.source;
    return this.attempt({ kind: 'source', location: src.policies }, async () => {
      const built = await buildPolicyBundle({
        policyDir: src.policies,
        testDir: src.tests,
        outDir: src.out,
        runTests: src.test_gate,
      });
      return built.files;
    });
  }

  /** Loads bundle files and swaps them in; returns the new active policy or undefined on failure. */
  async attempt(source: PolicySource, produce: () => Promise<BundleFiles>): Promise<ActivePolicy | undefined> {
    try {
      const files = await produce();
      const next = await this.load(files, source);
      this.active = next;
      this.lastFailure = undefined;
      this.history.unshift({ revision: next.revision, loadedAt: next.loadedAt, source });
      this.history.length = Math.min(this.history.length, HISTORY);
      this.log.log(`activated policy revision ${next.revision} from ${source.kind} ${source.location}`);
      for (const l of this.listeners) l('success', next);
      return next;
    } catch (e) {
      this.lastFailure = toFailure(e, source);
      const keep = this.active ? `keeping revision ${this.active.revision}` : 'no policy is active: every decision is refused (503)';
      this.log.error(`policy activation failed at ${this.lastFailure.step}: ${this.lastFailure.message}; ${keep}`);
      for (const l of this.listeners) l('failure');
      return undefined;
    }
  }

  private async load(files: BundleFiles, source: PolicySource): Promise<ActivePolicy> {
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
    return { policy, revision, loadedAt: new Date(), source };
  }

  /** What the status endpoint reports. */
  status() {
    return {
      active: this.active
        ? { revision: this.active.revision, loaded_at: this.active.loadedAt.toISOString(), source: this.active.source }
        : null,
      last_failure: this.lastFailure
        ? { ...this.lastFailure, at: this.lastFailure.at.toISOString() }
        : null,
      history: this.history.map((h) => ({ revision: h.revision, loaded_at: h.loadedAt.toISOString(), source: h.source })),
    };
  }
}

function toFailure(e: unknown, source: PolicySource): ActivationFailure {
  if (e instanceof PolicyBuildError) {
    return { at: new Date(), step: e.step, code: e.code, message: e.message, problems: e.problems, source };
  }
  if (e instanceof ToolgateError) {
    return { at: new Date(), step: 'load', code: e.code, message: e.message, problems: [], source };
  }
  return { at: new Date(), step: 'load', code: 'load_failed', message: describeThrown(e), problems: [], source };
}
