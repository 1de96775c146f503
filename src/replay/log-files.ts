import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';

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

/**
 * Expands what the operator named into decision-log files: files as given,
 * directories to the log files they hold (not recursive), and `*`/`?`
 * patterns in the last path segment (for quoted arguments the shell did not
 * expand). Throws when an argument matches nothing, so a typo is not an empty replay.
 */
export async function expandLogPaths(args: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const arg of args) {
    const st = await stat(arg).catch(() => undefined);
    let found: string[];
    if (st?.isFile()) found = [arg];
    else if (st?.isDirectory()) {
      found = (await readdir(arg, { withFileTypes: true })).filter((e) => e.isFile() && LOG_NAME.test(e.name)).map((e) => path.join(arg, e.name));
    } else if (/[*?]/.test(path.basename(arg))) {
      const dir = path.dirname(arg);
      const re = globToRegExp(path.basename(arg));
      found = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile() && re.test(e.name)).map((e) => path.join(dir, e.name));
    } else found = [];
    if (found.length === 0) throw new Error(`no decision-log files at ${arg}`);
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
