import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DecisionEvent } from '../audit/decision-event.js';
import { StoreUnavailableError } from '../common/errors.js';
import { encodeCursor, matches, summarize, type DecisionFilter, type DecisionSummary } from './decision-query.js';
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

/**
 * Scans of the logs allowed at once per process. Each scan reads up to
 * FILE_TAIL_BYTES and parses it; without a bound, many concurrent searches
 * share the event loop with the decisions and multiply memory.
 */
export const MAX_CONCURRENT_SCANS = 2;

/** How long a computed `rates` answer is reused: the overview polls it, and a scan per poll is waste. */
export const RATES_TTL_MS = 10_000;

/** Seconds a client should wait after `admin_busy`. */
const BUSY_RETRY_AFTER_S = 1;

/** Parsed rows filtered between two turns of the event loop. */
const ROWS_PER_TURN = 5000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Every scan slot is taken: the caller should retry shortly (HTTP 503 `admin_busy` with Retry-After). */
export class AdminBusyError extends StoreUnavailableError {
  constructor() {
    super('admin_busy', 'too many decision-log searches are running; retry shortly', { retry_after_s: BUSY_RETRY_AFTER_S });
  }
}

/** Options of FileDecisionSource; `onScan` lets tests observe how many scans run at once. */
export interface FileSourceOptions {
  maxBytes?: number;
  maxScans?: number;
  /** Called as a scan starts with the number of scans then running (itself included). */
  onScan?: (running: number) => void;
}

/** One parsed event, reduced to what searches and rates need. */
interface Row {
  s: DecisionSummary;
  subject: string | undefined;
  t: number;
  allow: boolean;
  code: string | null;
}

/** The parsed tail of the logs, valid while every file keeps its size and mtime. */
interface Snapshot {
  key: string;
  rows: Row[];
  truncated: boolean;
}

/**
 * Decisions from the file sink's recent events: the last FILE_TAIL_BYTES of the
 * decision-log files (every worker's), newest file first. What lies beyond is
 * not searched, and `truncated` says so. Parsing runs in slices of
 * LINES_PER_TURN lines, yielding to the event loop between them, because this
 * runs in the process that answers decisions. The parsed tail is kept and
 * reused while the files are unchanged (same names, sizes and mtimes); a search
 * arriving while one parse runs waits for it instead of starting another; at
 * most `maxScans` scans run at once, and beyond that callers get AdminBusyError.
 */
export class FileDecisionSource implements DecisionSource {
  readonly name = 'file' as const;
  private readonly maxBytes: number;
  private readonly maxScans: number;
  private readonly onScan?: (running: number) => void;
  private running = 0;
  private cached?: Snapshot;
  private building?: Promise<Snapshot>;
  private ratesCache?: { at: number; windowS: number; bucketS: number; value: Rates };

  constructor(
    private readonly file: string,
    options: number | FileSourceOptions = {},
  ) {
    const o = typeof options === 'number' ? { maxBytes: options } : options;
    this.maxBytes = o.maxBytes ?? FILE_TAIL_BYTES;
    this.maxScans = o.maxScans ?? MAX_CONCURRENT_SCANS;
    this.onScan = o.onScan;
  }

  /** Takes a scan slot for `run`, or throws AdminBusyError when all are taken. */
  private async slot<T>(run: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxScans) throw new AdminBusyError();
    this.running++;
    try {
      this.onScan?.(this.running);
      return await run();
    } finally {
      this.running--;
    }
  }

  /**
   * Calls `visit` for every recent line until it answers true (stop); answers
   * whether older data was left unread.
   */
  private async scan(files: { file: string; size: number }[], visit: (line: string) => boolean | void): Promise<{ truncated: boolean }> {
    let budget = this.maxBytes;
    let truncated = false;
    for (const f of files) {
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
            if (visit(lines[i]) === true) return { truncated };
          }
        }
      } catch {
        // A file rotated away or unreadable mid-read: what was read stands.
      }
    }
    return { truncated };
  }

  /** The parsed tail: cached while the files are unchanged, single-flight while parsing. */
  private async snapshot(): Promise<Snapshot> {
    if (this.building) return this.building;
    const files = await decisionLogFiles(this.file);
    const key = files.map((f) => `${f.file}\0${f.size}\0${f.mtimeMs}`).join('\n');
    if (this.cached?.key === key) return this.cached;
    if (this.building) return this.building;
    const build = this.slot(async () => {
      const rows: Row[] = [];
      const { truncated } = await this.scan(files, (line) => {
        const e = parseEvent(line);
        if (!e) return;
        rows.push({ s: summarize(e), subject: e.token?.subject, t: Date.parse(e.timestamp), allow: !!e.outcome?.allow, code: e.outcome?.code ?? null });
      });
      rows.sort((a, b) => b.t - a.t || (a.s.decision_id < b.s.decision_id ? 1 : a.s.decision_id > b.s.decision_id ? -1 : 0));
      // Replaces the previous parse: one parsed tail is kept at a time.
      this.cached = { key, rows, truncated };
      return this.cached;
    });
    this.building = build;
    try {
      return await build;
    } finally {
      if (this.building === build) this.building = undefined;
    }
  }

  async search(f: DecisionFilter): Promise<DecisionPage> {
    const snap = await this.snapshot();
    const page: DecisionSummary[] = [];
    let more = false;
    // Rows are newest first: stop at the first row past the page. Many searches may share one parse and
    // then filter it back to back: each yields to the event loop every ROWS_PER_TURN rows.
    for (let i = 0; i < snap.rows.length; i++) {
      if (i > 0 && i % ROWS_PER_TURN === 0) await nextTurn();
      const r = snap.rows[i];
      if (!matches(r.s, f, r.subject, r.t)) continue;
      if (page.length === f.limit) {
        more = true;
        break;
      }
      page.push(r.s);
    }
    const last = page[page.length - 1];
    return {
      source: this.name,
      decisions: page,
      next_before: more && last ? encodeCursor(last.at, last.decision_id) : undefined,
      scanned: snap.rows.length,
      truncated: snap.truncated,
    };
  }

  async get(id: string): Promise<DecisionEvent | undefined> {
    const files = await decisionLogFiles(this.file);
    return this.slot(async () => {
      let found: DecisionEvent | undefined;
      // Only lines naming the id are parsed; the scan stops at the first match (ids are unique).
      await this.scan(files, (line) => {
        if (!line.includes(id)) return false;
        const e = parseEvent(line);
        if (e?.decision_id !== id) return false;
        found = e;
        return true;
      });
      return found;
    });
  }

  async rates(now: number, windowS: number, bucketS: number): Promise<Rates> {
    const c = this.ratesCache;
    if (c && c.windowS === windowS && c.bucketS === bucketS && now - c.at >= 0 && now - c.at < RATES_TTL_MS) return c.value;
    const since = now - windowS * 1000;
    const snap = await this.snapshot();
    const points = snap.rows.filter((r) => r.t >= since && r.t <= now);
    const value = bucketRates(this.name, points, now, windowS, bucketS);
    this.ratesCache = { at: now, windowS, bucketS, value };
    return value;
  }
}
