import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DecisionEvent } from '../audit/decision-event.js';
import { encodeCursor, matches, newestFirst, summarize, type DecisionFilter, type DecisionSummary } from './decision-query.js';
import type { DecisionPage, DecisionSource, Rates } from './decision-source.js';
import { bucketRates } from './decision-source.js';

/** Bytes read from the end of the decision logs per search: bounds memory and time whatever the logs' size. */
export const FILE_TAIL_BYTES = 16 * 1024 * 1024;

/**
 * The decision logs the file sink writes for `file`: the file, its rotations
 * (`x.1` … `x.N`), and with `workers` one file per worker (`x.w<N>`, rotated
 * `x.w<N>.1` …), as src/cluster/worker.ts names them. Newest first by mtime.
 */
export async function decisionLogFiles(file: string): Promise<{ file: string; size: number; mtimeMs: number }[]> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.w\\d+)?(\\.\\d+)?$`);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => re.test(n));
  const out: { file: string; size: number; mtimeMs: number }[] = [];
  for (const n of names) {
    const st = await stat(path.join(dir, n)).catch(() => undefined);
    if (st?.isFile()) out.push({ file: path.join(dir, n), size: st.size, mtimeMs: st.mtimeMs });
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/** The last `max` bytes of a file as whole lines (a line cut by the window is dropped). */
async function tailLines(file: string, size: number, max: number): Promise<string[]> {
  const start = Math.max(0, size - max);
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    // Rotated logs are plain JSON lines; a gzipped one cannot be read from its end and is skipped.
    if (bytesRead >= 2 && start === 0 && buf[0] === 0x1f && buf[1] === 0x8b) return [];
    const lines = buf.subarray(0, bytesRead).toString('utf8').split('\n');
    if (start > 0) lines.shift();
    return lines.filter((l) => l.length > 0);
  } finally {
    await fh.close();
  }
}

function parseEvent(line: string): DecisionEvent | undefined {
  try {
    const e = JSON.parse(line) as DecisionEvent;
    return e && typeof e === 'object' && typeof e.decision_id === 'string' && typeof e.timestamp === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decisions from the file sink's recent events: the last FILE_TAIL_BYTES of the
 * decision-log files (every worker's), newest file first. What lies beyond is
 * not searched, and `truncated` says so.
 */
export class FileDecisionSource implements DecisionSource {
  readonly name = 'file' as const;

  constructor(
    private readonly file: string,
    private readonly maxBytes = FILE_TAIL_BYTES,
  ) {}

  private async recent(): Promise<{ events: DecisionEvent[]; truncated: boolean }> {
    let budget = this.maxBytes;
    let truncated = false;
    const events: DecisionEvent[] = [];
    for (const f of await decisionLogFiles(this.file)) {
      if (budget <= 0) {
        truncated = true;
        break;
      }
      if (f.size > budget) truncated = true;
      const lines = await tailLines(f.file, f.size, budget).catch(() => [] as string[]);
      budget -= Math.min(f.size, budget);
      for (const l of lines) {
        const e = parseEvent(l);
        if (e) events.push(e);
      }
    }
    return { events, truncated };
  }

  async search(f: DecisionFilter): Promise<DecisionPage> {
    const { events, truncated } = await this.recent();
    const rows: DecisionSummary[] = [];
    for (const e of events) {
      const s = summarize(e);
      if (matches(s, f, e.token?.subject)) rows.push(s);
    }
    rows.sort(newestFirst);
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return {
      source: this.name,
      decisions: page,
      next_before: rows.length > f.limit && last ? encodeCursor(last.at, last.decision_id) : undefined,
      scanned: events.length,
      truncated,
    };
  }

  async get(id: string): Promise<DecisionEvent | undefined> {
    const { events } = await this.recent();
    return events.find((e) => e.decision_id === id);
  }

  async rates(now: number, windowS: number, bucketS: number): Promise<Rates> {
    const { events } = await this.recent();
    const since = now - windowS * 1000;
    const points: { t: number; allow: boolean; code: string | null }[] = [];
    for (const e of events) {
      const t = Date.parse(e.timestamp);
      if (t >= since && t <= now) points.push({ t, allow: !!e.outcome?.allow, code: e.outcome?.code ?? null });
    }
    return bucketRates(this.name, points, now, windowS, bucketS);
  }
}
