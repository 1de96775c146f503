import type { DecisionEvent } from '../audit/decision-event.js';
import type { DecisionFilter, DecisionSummary } from './decision-query.js';

/** One page of `GET /v1/admin/decisions`. */
export interface DecisionPage {
  source: 'file' | 'postgres';
  decisions: DecisionSummary[];
  /** Pass as `before` for the next (older) page; absent on the last page. */
  next_before?: string;
  /** Events examined. */
  scanned: number;
  /** Older events exist that this search did not examine (the file source reads a bounded tail). */
  truncated: boolean;
}

/** Decisions per time bucket, over every worker (they come from the recorded events). */
export interface Rates {
  source: 'file' | 'postgres' | null;
  bucket_s: number;
  window_s: number;
  buckets: { t: number; allow: number; deny: Record<string, number> }[];
}

/** Where recorded decisions are read from: the file sink's logs or the PostgreSQL store. */
export interface DecisionSource {
  readonly name: 'file' | 'postgres';
  search(f: DecisionFilter): Promise<DecisionPage>;
  /** The recorded (masked) event, or undefined. */
  get(id: string): Promise<DecisionEvent | undefined>;
  rates(now: number, windowS: number, bucketS: number): Promise<Rates>;
}

/** Empty buckets for the whole window (a quiet minute is a zero, not a gap), then filled. */
export function bucketRates(
  source: Rates['source'],
  points: Iterable<{ t: number; allow: boolean; code: string | null; n?: number }>,
  now: number,
  windowS: number,
  bucketS: number,
): Rates {
  const step = bucketS * 1000;
  const last = Math.floor(now / step) * step;
  const first = last - (Math.ceil(windowS / bucketS) - 1) * step;
  const buckets: Rates['buckets'] = [];
  for (let t = first; t <= last; t += step) buckets.push({ t: t / 1000, allow: 0, deny: {} });
  for (const p of points) {
    const i = Math.floor((p.t - first) / step);
    const b = buckets[i];
    if (!b) continue;
    const n = p.n ?? 1;
    if (p.allow) b.allow += n;
    else {
      const code = p.code ?? 'unknown';
      b.deny[code] = (b.deny[code] ?? 0) + n;
    }
  }
  return { source, bucket_s: bucketS, window_s: windowS, buckets };
}
