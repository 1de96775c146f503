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

/** Bytes read at once: small enough that splitting one read into lines is a short step. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The last `max` bytes of a file as whole lines, a chunk at a time (a line cut by
 * the window is dropped). A gzipped file cannot be read from its end and yields nothing.
 */
async function* tailLines(file: string, size: number, max: number): AsyncGenerator<string[]> {
  const start = Math.max(0, size - max);
  const fh = await open(file, 'r');
  try {
    let pos = start;
    let carry = '';
    let first = true;
    while (pos < size) {
      const buf = Buffer.alloc(Math.min(CHUNK_BYTES, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      if (first && start === 0 && bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return;
      pos += bytesRead;
      const lines = (carry + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      if (first && start > 0) lines.shift();
      first = false;
      yield lines.filter((l) => l.length > 0);
    }
    if (carry.length > 0 && !(first && start > 0)) yield [carry];
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

/** Lines handled between two turns of the event loop: a search never holds up the decisions this process serves. */
const LINES_PER_TURN = 500;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Decisions from the file sink's recent events: the last FILE_TAIL_BYTES of the
 * decision-log files (every worker's), newest file first. What lies beyond is
 * not searched, and `truncated` says so. Parsing runs in slices of
 * LINES_PER_TURN lines, yielding to the event loop between them, because this
 * runs in the process that answers decisions.
 */
export class FileDecisionSource implements DecisionSource {
  readonly name = 'file' as const;

  constructor(
    private readonly file: string,
    private readonly maxBytes = FILE_TAIL_BYTES,
  ) {}

  /** Calls `visit` for every recent line; answers whether older data was left unread. */
  private async scan(visit: (line: string) => void): Promise<{ lines: number; truncated: boolean }> {
    let budget = this.maxBytes;
    let truncated = false;
    let count = 0;
    for (const f of await decisionLogFiles(this.file)) {
      if (budget <= 0) {
        truncated = true;
        break;
      }
      if (f.size > budget) truncated = true;
      const window = Math.min(f.size, budget);
      budget -= window;
      try {
        for await (const lines of tailLines(f.file, f.size, window)) {
          for (let i = 0; i < lines.length; i++) {
            if (i % LINES_PER_TURN === 0) await nextTurn();
            visit(lines[i]);
          }
          count += lines.length;
        }
      } catch {
        // A file rotated away or unreadable mid-read: what was read stands.
      }
    }
    return { lines: count, truncated };
  }

  async search(f: DecisionFilter): Promise<DecisionPage> {
    const rows: DecisionSummary[] = [];
    let scanned = 0;
    const { truncated } = await this.scan((line) => {
      const e = parseEvent(line);
      if (!e) return;
      scanned++;
      const s = summarize(e);
      if (matches(s, f, e.token?.subject)) rows.push(s);
    });
    rows.sort(newestFirst);
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return {
      source: this.name,
      decisions: page,
      next_before: rows.length > f.limit && last ? encodeCursor(last.at, last.decision_id) : undefined,
      scanned,
      truncated,
    };
  }

  async get(id: string): Promise<DecisionEvent | undefined> {
    let found: DecisionEvent | undefined;
    // Only lines naming the id are parsed.
    await this.scan((line) => {
      if (found || !line.includes(id)) return;
      const e = parseEvent(line);
      if (e?.decision_id === id) found = e;
    });
    return found;
  }

  async rates(now: number, windowS: number, bucketS: number): Promise<Rates> {
    const since = now - windowS * 1000;
    const points: { t: number; allow: boolean; code: string | null }[] = [];
    await this.scan((line) => {
      const e = parseEvent(line);
      if (!e) return;
      const t = Date.parse(e.timestamp);
      if (t >= since && t <= now) points.push({ t, allow: !!e.outcome?.allow, code: e.outcome?.code ?? null });
    });
    return bucketRates(this.name, points, now, windowS, bucketS);
  }
}
