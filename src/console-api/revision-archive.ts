import { Injectable } from '@nestjs/common';
import { createTwoFilesPatch } from 'diff';
import { ToolgateConfig } from '../config/config.schema.js';
import type { BundleFiles } from '../policy-compiler/bundle-archive.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';

/** One file of a revision's sources, as the bundle holds it. */
export interface SourceFile {
  path: string;
  content: string;
}

/** One changed file between two revisions. */
export interface FileDiff {
  path: string;
  status: 'added' | 'removed' | 'changed';
  /** The unified diff, or null when it was too large to compute (see `too_large_to_diff`). */
  patch: string | null;
  /** Present and true when the files differ on too many lines, or the diff's byte budget was spent: only the status is given. */
  too_large_to_diff?: true;
}

/**
 * Bounds on one diff request. jsdiff's Myers diff costs about (lines x edits)
 * and runs synchronously in the process that answers decisions: two large data
 * files differing on most lines took minutes. `MAX_EDIT_LINES` stops it
 * deterministically (a person does not read a 5000-line patch either),
 * `TIMEOUT_MS` is a backstop per file, `TOTAL_MS` over all files of one request
 * (many mid-sized files each just under the per-file bound), and `MAX_BYTES`
 * bounds the text compared over all files of one request.
 */
export const DIFF_LIMITS = { MAX_EDIT_LINES: 5000, TIMEOUT_MS: 250, TOTAL_MS: 1000, MAX_BYTES: 4 * 1024 * 1024 };

/** Rego, data and manifest files are what a person reads; the compiled wasm is not. */
const TEXT_FILE = /\.(rego|json|ya?ml)$|\/\.manifest$/;
/** A source file larger than this is kept as a note, not its content (keeps the archive small). */
const MAX_FILE_BYTES = 1024 * 1024;

/** The readable files of a bundle, sorted by path. */
export function readableFiles(files: BundleFiles): SourceFile[] {
  const out: SourceFile[] = [];
  for (const [p, buf] of files) {
    if (!TEXT_FILE.test(p)) continue;
    out.push({ path: p, content: buf.length > MAX_FILE_BYTES ? `(${buf.length} bytes: too large to show)` : buf.toString('utf8') });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The unified diff between two revisions' files; unchanged files are left out.
 * A file whose diff is over DIFF_LIMITS keeps its status with `patch: null`
 * and `too_large_to_diff: true`.
 */
export function diffFiles(from: SourceFile[], to: SourceFile[], fromName: string, toName: string, limits = DIFF_LIMITS): FileDiff[] {
  const a = new Map(from.map((f) => [f.path, f.content]));
  const b = new Map(to.map((f) => [f.path, f.content]));
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: FileDiff[] = [];
  let budget = limits.MAX_BYTES;
  const deadline = Date.now() + limits.TOTAL_MS;
  for (const p of paths) {
    const before = a.get(p);
    const after = b.get(p);
    if (before === after) continue;
    const status = before === undefined ? 'added' : after === undefined ? 'removed' : 'changed';
    const size = (before?.length ?? 0) + (after?.length ?? 0);
    let patch: string | undefined;
    const left = deadline - Date.now();
    if (size <= budget && left > 0) {
      budget -= size;
      // Returns undefined when the edit length or the time is exceeded (diff 8: maxEditLength / timeout abort the diff).
      patch = createTwoFilesPatch(`${fromName}${p}`, `${toName}${p}`, before ?? '', after ?? '', undefined, undefined, {
        context: 3,
        maxEditLength: limits.MAX_EDIT_LINES,
        timeout: Math.min(limits.TIMEOUT_MS, left),
      });
    }
    out.push(patch === undefined ? { path: p, status, patch: null, too_large_to_diff: true } : { path: p, status, patch });
  }
  return out;
}

/**
 * Keeps the readable sources (Rego, data, manifest) of the last `policy.history`
 * activated revisions in memory, keyed by content hash, so the console can show
 * a revision's policy and diff two of them. Fed by the store's activation events:
 * the bundle the store activated is exactly what is kept.
 */
@Injectable()
export class RevisionArchive {
  private readonly kept = new Map<string, SourceFile[]>();

  constructor(
    store: PolicyStore,
    private readonly config: ToolgateConfig,
  ) {
    const now = store.current();
    if (now) this.keep(now);
    store.onActivation((result, active) => {
      if (result === 'success' && active) this.keep(active);
    });
  }

  private keep(active: ActivePolicy): void {
    if (!active.files) return;
    this.kept.delete(active.contentHash);
    this.kept.set(active.contentHash, readableFiles(active.files));
    while (this.kept.size > this.config.policy.history) this.kept.delete(this.kept.keys().next().value as string);
  }

  has(contentHash: string): boolean {
    return this.kept.has(contentHash);
  }

  /** The kept files of a revision, or undefined when it is unknown or was dropped. */
  sources(contentHash: string): SourceFile[] | undefined {
    return this.kept.get(contentHash);
  }
}
