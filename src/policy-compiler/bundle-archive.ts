import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { PolicyBuildError } from './errors.js';

/** Files of an OPA bundle, keyed by their path inside the archive (leading `/` kept, as OPA names them). */
export type BundleFiles = Map<string, Buffer>;

const MAX_UNPACKED = 256 * 1024 * 1024;

function fail(message: string): never {
  throw new PolicyBuildError('bundle_invalid', 'bundle', message);
}

/** The archive path as OPA names it, or why the entry is refused. */
function bundlePath(entry: ReadEntry): string | Error {
  if (entry.type !== 'File' && entry.type !== 'OldFile') return new Error(`bundle entry ${entry.path} is not a regular file`);
  const normalized = '/' + entry.path.replace(/^\.?\/+/, '');
  if (normalized.split('/').includes('..')) return new Error(`bundle entry ${entry.path} escapes the bundle root`);
  return normalized;
}

/**
 * Reads a gzipped tar archive as OPA writes bundles (Go's archive/tar: ustar,
 * with PAX headers for long or non-ASCII paths), parsed by node-tar. Only
 * regular files are returned; links and devices are refused, paths with `..`
 * are refused, and the unpacked size is bounded, since bundles may come from a
 * remote server. Synchronous: node-tar's parser delivers every entry and its
 * body during `end()` when given the whole archive at once.
 */
export function readBundleArchive(gz: Buffer): BundleFiles {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED });
  } catch (e) {
    fail(`bundle is not a gzip archive: ${(e as Error).message}`);
  }
  const files: BundleFiles = new Map();
  let problem: Error | undefined;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry) => {
      if (entry.type === 'Directory') return entry.resume();
      const name = bundlePath(entry);
      if (typeof name !== 'string' || files.has(name)) {
        problem ??= typeof name === 'string' ? new Error(`bundle entry ${name} appears twice`) : name;
        return entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(name, Buffer.concat(chunks)));
    },
  });
  parser.on('error', (e: Error) => (problem ??= e));
  parser.end(tar);
  if (problem) fail(problem.message);
  return files;
}
