import { gunzipSync } from 'node:zlib';
import { PolicyBuildError } from './errors.js';

/** Files of an OPA bundle, keyed by their path inside the archive (leading `/` kept, as OPA names them). */
export type BundleFiles = Map<string, Buffer>;

const MAX_UNPACKED = 256 * 1024 * 1024;

function fail(message: string): never {
  throw new PolicyBuildError('bundle_invalid', 'bundle', message);
}

function cstr(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? slice.length : nul).toString('utf8');
}

/**
 * Reads a gzipped ustar archive as OPA writes bundles. Only regular files are
 * returned; links and devices are refused, paths with `..` are refused, and the
 * unpacked size is bounded, since bundles may come from a remote server.
 */
export function readBundleArchive(gz: Buffer): BundleFiles {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED });
  } catch (e) {
    fail(`bundle is not a gzip archive: ${(e as Error).message}`);
  }
  const files: BundleFiles = new Map();
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    let name = cstr(header, 0, 100);
    const prefix = cstr(header, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(cstr(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    if (!Number.isFinite(size) || size < 0 || off + 512 + size > tar.length) fail('bundle archive is truncated');
    const body = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = cstr(body, 0, body.length);
      continue;
    }
    if (longName) {
      name = longName;
      longName = undefined;
    }
    if (type === '5' || type === 'x' || type === 'g') continue;
    if (type !== '0' && type !== '\0') fail(`bundle entry ${name} is not a regular file`);
    const normalized = '/' + name.replace(/^\.?\/+/, '');
    if (normalized.split('/').includes('..')) fail(`bundle entry ${name} escapes the bundle root`);
    if (files.has(normalized)) fail(`bundle entry ${normalized} appears twice`);
    files.set(normalized, Buffer.from(body));
  }
  return files;
}
