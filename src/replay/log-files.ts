import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { CommandFailedError } from '../common/command-errors.js';

/** Names a decision-log file may have: the file sink's (`x.jsonl`, rotated `x.jsonl.1`), and the same gzipped. */
const LOG_NAME = /\.(jsonl|json|log|ndjson)(\.w\d+)?(\.\d+)?(\.gz)?$/;

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * Rotation order: for one base name the highest number is the oldest
 * (`x.jsonl.3`, `x.jsonl.2`, `x.jsonl.1`, `x.jsonl`), so events come out
 * roughly in the order they were written.
 */
function rotationKey(file: string): [string, number] {
  const m = /^(.*?)(?:\.(\d+))?(?:\.gz)?$/.exec(path.basename(file))!;
  return [path.join(path.dirname(file), m[1]), m[2] === undefined ? 0 : Number(m[2])];
}

function byRotation(a: string, b: string): number {
  const [ba, na] = rotationKey(a);
  const [bb, nb] = rotationKey(b);
  return ba < bb ? -1 : ba > bb ? 1 : nb - na;
}

/** A file left out of a directory or pattern, and why. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/**
 * Whether a file holds decision events: its first line is a JSON object with
 * a string `decision_id` (what every event the audit sinks write starts as).
 * An empty file is a log with no events yet. Other files that live beside
 * the logs (`revocations.json`, a config, a report) are not.
 */
export async function looksLikeDecisionLog(file: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  let first: string | undefined;
  try {
    for await (const line of readLogLines(file)) {
      first = line;
      break;
    }
  } catch (e) {
    return { ok: false, reason: `unreadable: ${(e as Error).message}` };
  }
  if (first === undefined) return { ok: true };
  try {
    const e = JSON.parse(first) as unknown;
    if (e && typeof e === 'object' && typeof (e as { decision_id?: unknown }).decision_id === 'string') return { ok: true };
  } catch {
    // not JSON on one line: a pretty-printed document, or not JSON at all
  }
  return { ok: false, reason: 'not a decision log (its first line is not a decision event)' };
}

/**
 * Expands what the operator named into decision-log files: files as given,
 * directories to the log files they hold (not recursive), and `*`/`?`
 * patterns in the last path segment (for quoted arguments the shell did not
 * expand). From directories and patterns only decision logs are taken: a
 * log's name (`*.jsonl`, rotated, per worker, gzipped) and a first line that
 * is a decision event; every other file is passed to `onSkip`. Throws
 * `logs_not_found` when an argument yields no log, so a typo is not an empty replay.
 */
export async function expandLogPaths(args: string[], onSkip: (s: SkippedFile) => void = () => undefined): Promise<string[]> {
  const out = new Set<string>();
  for (const arg of args) {
    const st = await stat(arg).catch(() => undefined);
    let found: string[];
    let listed: string[] | undefined;
    if (st?.isFile()) found = [arg];
    else if (st?.isDirectory()) {
      listed = (await readdir(arg, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(arg, e.name));
      found = [];
    } else if (/[*?]/.test(path.basename(arg))) {
      const dir = path.dirname(arg);
      const re = globToRegExp(path.basename(arg));
      listed = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile() && re.test(e.name)).map((e) => path.join(dir, e.name));
      found = [];
    } else found = [];
    for (const f of (listed ?? []).sort()) {
      if (!LOG_NAME.test(path.basename(f))) {
        onSkip({ file: f, reason: 'not named like a decision log (*.jsonl, *.ndjson, *.log, rotated or .gz)' });
        continue;
      }
      const shape = await looksLikeDecisionLog(f);
      if (shape.ok) found.push(f);
      else onSkip({ file: f, reason: shape.reason });
    }
    if (found.length === 0) {
      const what = st ? `no decision-log files in ${arg}` : /[*?]/.test(path.basename(arg)) ? `no decision-log files match ${arg}` : `${arg}: no such file or directory`;
      throw new CommandFailedError('logs_not_found', what);
    }
    for (const f of found) out.add(path.resolve(f));
  }
  return [...out].sort(byRotation);
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * The lines of one log file, streamed (memory stays bounded whatever the
 * file's size); gzip is recognised by its magic bytes, not its name, since
 * operators compress rotated files under all sorts of names.
 */
export async function* readLogLines(file: string): AsyncGenerator<string> {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  // Large gunzip chunks let decompression (on the thread pool) run ahead of the evaluations.
  const stream = (await isGzip(file)) ? raw.pipe(createGunzip({ chunkSize: 256 * 1024 })) : raw;
  raw.on('error', (e) => stream.destroy(e));
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) if (line.length > 0) yield line;
  } finally {
    rl.close();
    raw.destroy();
  }
}
