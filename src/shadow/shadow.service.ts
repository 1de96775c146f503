import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import path from 'node:path';
import { Counter } from 'prom-client';
import type { ShadowRecord } from '../audit/decision-event.js';
import { ToolgateConfig, type PolicyConfig } from '../config/config.schema.js';
import { evaluationOutcome } from '../decision/policy-answer.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';

/** How a shadow evaluation compares with the answer given. */
export type ShadowResult = 'same' | 'allow_to_deny' | 'deny_to_allow' | 'error';

/** One divergence as /v1/status lists it. */
export interface ShadowDivergence {
  decision_id: string;
  at: string;
  result: Exclude<ShadowResult, 'same'>;
  server?: string;
  tool?: string;
  active: { allow: boolean; code?: string };
  shadow: { allow: boolean; code?: string };
}

/** What the decision route hands over after it has answered. */
export interface ShadowSubject {
  decisionId: string;
  input: Record<string, unknown>;
  /** The decision's clock (ms since the epoch): `time.now_ns` of the shadow evaluation. */
  nowMs: number;
  allow: boolean;
  code?: string;
}

/**
 * The configured policy source rewritten to the shadow's, so the candidate is
 * built, tested, verified and watched by a PolicyStore exactly like the active
 * one. Bundle signing defaults to the active source's keys.
 */
export function shadowPolicyConfig(config: ToolgateConfig): ToolgateConfig | undefined {
  const s = config.policy.shadow;
  if (!s) return undefined;
  const policy: PolicyConfig = { ...config.policy, mode: s.mode, shadow: undefined };
  if (s.mode === 'source' && s.source) {
    // Never build into the active source's output directory.
    const out = s.source.out === config.policy.source.out ? path.join(s.source.out, 'shadow') : s.source.out;
    policy.source = { ...s.source, out };
  }
  if (s.mode === 'bundle' && s.bundle) policy.bundle = { ...s.bundle, signing: s.bundle.signing ?? config.policy.bundle?.signing };
  return { ...config, policy } as ToolgateConfig;
}

/**
 * Evaluates a candidate policy (policy.shadow) on a sample of live decisions,
 * after the answer has been given, and records how it would have answered:
 * in the decision-log event (`shadow`), in
 * `toolgate_shadow_decisions_total{result}`, and in /v1/status. It never
 * changes an answer and a failure of the candidate is only counted (`error`).
 */
@Injectable()
export class ShadowService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('ShadowService');
  private readonly store?: PolicyStore;
  private readonly sampleRate: number;
  private readonly keep: number;
  private readonly counter: Counter<'result'>;
  private counts: Record<ShadowResult, number> = { same: 0, allow_to_deny: 0, deny_to_allow: 0, error: 0 };
  private since?: Date;
  private divergences: ShadowDivergence[] = [];
  private pending = 0;

  constructor(config: ToolgateConfig, metrics: MetricsService) {
    const shadowConfig = shadowPolicyConfig(config);
    this.sampleRate = config.policy.shadow?.sample_rate ?? 0;
    this.keep = config.policy.shadow?.last_divergences ?? 0;
    this.counter = new Counter({
      name: 'toolgate_shadow_decisions_total',
      help: 'Shadow evaluations of the candidate policy by comparison with the answer given (same, allow_to_deny, deny_to_allow, error)',
      labelNames: ['result'] as const,
      registers: [metrics.registry],
    });
    if (!shadowConfig) return;
    this.store = new PolicyStore(shadowConfig);
    // A new candidate starts new counts: they describe one candidate, since it was loaded.
    this.store.onActivation((result) => {
      if (result !== 'success') return;
      this.counts = { same: 0, allow_to_deny: 0, deny_to_allow: 0, error: 0 };
      this.divergences = [];
      this.since = new Date();
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    // A candidate that does not build or verify is reported, never fatal: the active policy still answers.
    await this.store?.onApplicationBootstrap();
    if (this.store && !this.store.current()) this.log.warn('shadow policy did not load; see policy.shadow in /v1/status');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store?.onApplicationShutdown();
  }

  /** Whether decisions should be handed to `observe` at all: a candidate is configured and sampled. Off, the decision path skips building the subject. */
  get enabled(): boolean {
    return this.store !== undefined && this.sampleRate > 0;
  }

  /**
   * Takes a decision that has been answered. When sampled and a candidate is
   * loaded, the candidate is evaluated on a later event-loop turn and `then`
   * receives the shadow record; otherwise `then` runs at once without one.
   */
  observe(subject: ShadowSubject, then?: (shadow?: ShadowRecord) => void): void {
    const candidate = this.store?.current();
    if (!candidate || this.sampleRate === 0 || (this.sampleRate < 1 && Math.random() >= this.sampleRate)) {
      then?.();
      return;
    }
    this.pending++;
    setImmediate(() => {
      this.pending--;
      then?.(this.evaluate(candidate, subject));
    });
  }

  /** Evaluations scheduled but not yet run (tests wait for zero). */
  get inFlight(): number {
    return this.pending;
  }

  private evaluate(candidate: ActivePolicy, s: ShadowSubject): ShadowRecord {
    const out = evaluationOutcome(() => candidate.policy.evaluate(DECISION_ENTRYPOINT, s.input, { nowNs: s.nowMs * 1e6 }));
    const result: ShadowResult =
      out.code === 'policy_error' && s.code !== 'policy_error' ? 'error' : out.allow === s.allow ? 'same' : s.allow ? 'allow_to_deny' : 'deny_to_allow';
    this.counts[result]++;
    this.counter.inc({ result });
    if (result !== 'same' && this.keep > 0) {
      const tool = (s.input.tool as { name?: unknown } | undefined)?.name;
      this.divergences.unshift({
        decision_id: s.decisionId,
        at: new Date().toISOString(),
        result,
        server: typeof s.input.server === 'string' ? s.input.server : undefined,
        tool: typeof tool === 'string' ? tool : undefined,
        active: { allow: s.allow, code: s.code },
        shadow: { allow: out.allow, code: out.code },
      });
      this.divergences.length = Math.min(this.divergences.length, this.keep);
    }
    return { revision: candidate.revision, content_hash: candidate.contentHash, allow: out.allow, code: out.code, result };
  }

  /** The `shadow` section of /v1/status; undefined when no shadow is configured. */
  status() {
    if (!this.store) return undefined;
    const st = this.store.status();
    return {
      sample_rate: this.sampleRate,
      candidate: st.active,
      last_failure: st.last_failure,
      since: this.since?.toISOString() ?? null,
      counts: { ...this.counts },
      last_divergences: this.divergences.map((d) => ({ ...d })),
    };
  }
}
