import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { BadRequestError } from '../common/errors.js';

/** One JSON report in `console.reports_dir`. */
export interface ReportEntry {
  name: string;
  kind: 'replay' | 'privileges' | 'unknown';
  created_at: string;
  bytes: number;
}

/** A report name: one file in the directory, never a path. */
const REPORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json$/;
/**
 * Reports larger than this are listed (kind `unknown`) but not opened: the
 * console renders them in a browser, and checking one means parsing it in the
 * process that answers decisions. Replay and privileges reports of real logs
 * stay well below.
 */
export const MAX_REPORT_BYTES = 8 * 1024 * 1024;

/** What is known of one report file while its size and mtime stay the same. */
interface Checked {
  size: number;
  mtimeMs: number;
  kind: ReportEntry['kind'];
  /** The file parsed as JSON. */
  json: boolean;
}

/**
 * Kinds of reports already parsed, by file name, valid while the size and mtime
 * match: listing reports then parses only new or changed files.
 */
export class ReportCache {
  private readonly byName = new Map<string, Checked>();

  /** The file's kind and whether it is JSON, parsing it only when it is new or changed. */
  async check(dir: string, name: string, st: { size: number; mtimeMs: number }): Promise<Checked> {
    const key = path.join(dir, name);
    const hit = this.byName.get(key);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit;
    let c: Checked = { size: st.size, mtimeMs: st.mtimeMs, kind: 'unknown', json: false };
    if (st.size <= MAX_REPORT_BYTES) {
      try {
        c = { ...c, kind: reportKind(JSON.parse(await readFile(key, 'utf8')), name), json: true };
      } catch {
        // not JSON after all: listed as unknown, not opened
      }
    }
    this.byName.set(key, c);
    return c;
  }

  /** Forgets files that are gone, so the cache stays as large as the directory. */
  keepOnly(dir: string, names: string[]): void {
    const keep = new Set(names.map((n) => path.join(dir, n)));
    for (const k of this.byName.keys()) if (path.dirname(k) === dir && !keep.has(k)) this.byName.delete(k);
  }
}

/**
 * What wrote a report: a `kind` field when it names one, else the shape of
 * `toolgate replay --format json`, else a file name starting with `replay` or `privileges`.
 */
export function reportKind(doc: unknown, name = ''): ReportEntry['kind'] {
  const d = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  if (d.kind === 'privileges' || d.kind === 'replay') return d.kind;
  if (d.candidate && d.baseline && typeof d.replayed === 'number') return 'replay';
  if (doc !== undefined && /^privileges/i.test(name)) return 'privileges';
  if (doc !== undefined && /^replay/i.test(name)) return 'replay';
  return 'unknown';
}

/** Refuses anything but a plain report file name (no separators, no `..`, no dotfiles). */
export function checkReportName(name: string): void {
  if (!REPORT_NAME.test(name) || name.includes('..')) {
    throw new BadRequestError('invalid_request', 'name: expected a report file name like replay-2026-01-31.json');
  }
}

/** Reports are regular files directly in `dir`; symbolic links are not followed (they could point anywhere). */
async function regularFile(file: string): Promise<{ size: number; mtime: Date; mtimeMs: number; birthtime: Date } | undefined> {
  const st = await lstat(file).catch(() => undefined);
  return st?.isFile() ? st : undefined;
}

/** The JSON reports in `dir`, newest first; an absent directory is an empty list. */
export async function listReports(dir: string, cache = new ReportCache()): Promise<ReportEntry[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => REPORT_NAME.test(n));
  const out: ReportEntry[] = [];
  for (const name of names) {
    const st = await regularFile(path.join(dir, name));
    if (!st) continue;
    const { kind } = await cache.check(dir, name, st);
    const created = st.birthtime.getTime() > 0 ? st.birthtime : st.mtime;
    out.push({ name, kind, created_at: created.toISOString(), bytes: st.size });
  }
  cache.keepOnly(dir, names);
  return out.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.name.localeCompare(b.name)));
}

/**
 * One report's bytes, exactly as the file holds them (checked to be JSON, not
 * re-serialized), or undefined when there is no such regular, parseable,
 * bounded file.
 */
export async function readReport(dir: string, name: string, cache = new ReportCache()): Promise<Buffer | undefined> {
  checkReportName(name);
  const file = path.join(dir, name);
  if (path.dirname(path.resolve(file)) !== path.resolve(dir)) return undefined;
  const st = await regularFile(file);
  if (!st || st.size > MAX_REPORT_BYTES) return undefined;
  if (!(await cache.check(dir, name, st)).json) return undefined;
  const bytes = await readFile(file).catch(() => undefined);
  // Changed between the check and the read: refuse rather than send what was not checked.
  return bytes?.length === st.size ? bytes : undefined;
}
