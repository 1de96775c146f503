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
/** Reports larger than this are listed but not opened (the console renders them in a browser). */
export const MAX_REPORT_BYTES = 32 * 1024 * 1024;

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
async function regularFile(file: string): Promise<{ size: number; mtime: Date; birthtime: Date } | undefined> {
  const st = await lstat(file).catch(() => undefined);
  return st?.isFile() ? st : undefined;
}

/** The JSON reports in `dir`, newest first; an absent directory is an empty list. */
export async function listReports(dir: string): Promise<ReportEntry[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => REPORT_NAME.test(n));
  const out: ReportEntry[] = [];
  for (const name of names) {
    const st = await regularFile(path.join(dir, name));
    if (!st) continue;
    let kind: ReportEntry['kind'] = 'unknown';
    if (st.size <= MAX_REPORT_BYTES) {
      try {
        kind = reportKind(JSON.parse(await readFile(path.join(dir, name), 'utf8')), name);
      } catch {
        // not JSON after all: listed as unknown
      }
    }
    const created = st.birthtime.getTime() > 0 ? st.birthtime : st.mtime;
    out.push({ name, kind, created_at: created.toISOString(), bytes: st.size });
  }
  return out.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.name.localeCompare(b.name)));
}

/** One report's JSON, or undefined when there is no such (regular, parseable, bounded) file. */
export async function readReport(dir: string, name: string): Promise<unknown> {
  checkReportName(name);
  const file = path.join(dir, name);
  if (path.dirname(path.resolve(file)) !== path.resolve(dir)) return undefined;
  const st = await regularFile(file);
  if (!st || st.size > MAX_REPORT_BYTES) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
