import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import type { BundleFiles } from '../policy-compiler/bundle-archive.js';

/** Where an active policy came from. */
export interface PolicySource {
  kind: 'source' | 'bundle';
  /** Directory or bundle path / URL. */
  location: string;
}

/**
 * One immutable, loaded policy revision. A decision takes a reference to it at
 * its start and uses only that, so a reload never mixes revisions.
 */
export interface ActivePolicy {
  readonly policy: WasmPolicy;
  /** The manifest's revision label (`unversioned` when it has none): reported, never used as identity. */
  readonly revision: string;
  /** What identifies the policy: `sha256:<hex>` of the bundle's files (see bundleContentHash). */
  readonly contentHash: string;
  readonly loadedAt: Date;
  readonly source: PolicySource;
  /** The bundle's files as activated: a cluster primary hands exactly these to its workers. */
  readonly files?: BundleFiles;
}

/** A failed attempt to activate a policy, as the status endpoint shows it. */
export interface ActivationFailure {
  at: Date;
  step: string;
  code: string;
  message: string;
  problems: { file?: string; line?: number; message: string }[];
  source: PolicySource;
}
