import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BundlePolicyConfig, PolicyConfig, SourcePolicyConfig, type BundleSigningConfig, type ToolgateConfig } from '../config/config.schema.js';
import { PolicyBuildError, type PolicyStep } from '../policy-compiler/errors.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';

/** Where a replay takes a policy from: a directory (source mode) or a bundle file (bundle mode). */
export interface PolicyLocation {
  /** A policy directory or a bundle file. */
  location: string;
  /** Rego tests run as the gate for a directory. */
  tests?: string;
  /** Build output for a directory; default a fresh temp dir. */
  out?: string;
}

/**
 * Loads one policy through the service's own PolicyStore, so a directory is
 * checked, tested, parity-gated and built, and a bundle file is read and
 * signature-verified (with `signing`, from the toolgate config), exactly as
 * they would be before answering. Throws PolicyBuildError naming the step.
 */
export async function loadReplayPolicy(where: PolicyLocation, signing?: BundleSigningConfig, maxMemoryPages?: number): Promise<ActivePolicy> {
  const st = await stat(where.location).catch(() => undefined);
  if (!st) throw new PolicyBuildError('policy_not_found', 'load', `${where.location}: no such policy directory or bundle file`);
  const policy = new PolicyConfig();
  if (maxMemoryPages) policy.max_memory_pages = maxMemoryPages;
  if (st.isDirectory()) {
    policy.mode = 'source';
    policy.source = Object.assign(new SourcePolicyConfig(), {
      policies: path.resolve(where.location),
      tests: path.resolve(where.tests ?? 'rego-tests'),
      out: where.out ?? (await mkdtemp(path.join(os.tmpdir(), 'toolgate-replay-'))),
      test_gate: true,
      watch: false,
    });
  } else {
    policy.mode = 'bundle';
    policy.bundle = Object.assign(new BundlePolicyConfig(), { path: path.resolve(where.location), signing });
  }
  return loadWith(policy, where.location);
}

/**
 * Runs `fn` with a fresh scratch directory under the system temp directory
 * (for policy builds) and removes it afterwards, whether `fn` succeeded or threw.
 * A loaded policy lives in memory: nothing needs the build output afterwards.
 */
export async function withScratchDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-replay-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Loads the policy a toolgate config names (its `policy` section, as the service would at startup). */
export async function loadConfiguredPolicy(config: ToolgateConfig, scratch?: string): Promise<ActivePolicy> {
  // Built into a scratch directory: the service's own `out` may be in use by a running instance.
  const out = scratch ?? (await mkdtemp(path.join(os.tmpdir(), 'toolgate-replay-')));
  const policy = { ...config.policy, source: { ...config.policy.source, watch: false, out } };
  return loadWith(policy, policy.mode === 'source' ? policy.source.policies : (policy.bundle?.path ?? policy.bundle?.url ?? '?'));
}

async function loadWith(policy: PolicyConfig, label: string): Promise<ActivePolicy> {
  const store = new PolicyStore({ policy } as ToolgateConfig);
  const active = await store.loadConfigured();
  await store.onApplicationShutdown();
  if (active) return active;
  const f = store.status().last_failure;
  throw new PolicyBuildError(f?.code ?? 'load_failed', (f?.step ?? 'load') as PolicyStep, `${label}: ${f?.message ?? 'the policy did not load'}`, f?.problems ?? []);
}
