import { createHash } from 'node:crypto';
import type { BundleFiles } from '../policy-compiler/bundle-archive.js';

/** The signature file attests the content; it is not part of it (see bundleContentHash). */
const SIGNATURES = '/.signatures.json';

/**
 * The identity of a bundle: `sha256:<hex>` over every file's name and bytes,
 * sorted by name, each length-prefixed so no two different file sets hash the
 * same stream. The manifest (and its revision label) is one of the files, so
 * relabelling is a new identity, but a repeated label on new content is too.
 * `.signatures.json` is left out: re-signing the same files (ECDSA signatures
 * differ every time) does not change what runs. Archive order, timestamps and
 * compression never matter.
 */
export function bundleContentHash(files: BundleFiles): string {
  const h = createHash('sha256');
  const names = [...files.keys()].filter((n) => n !== SIGNATURES).sort();
  for (const name of names) {
    const bytes = files.get(name)!;
    const label = Buffer.from(name, 'utf8');
    h.update(`${label.length}:`).update(label).update(`${bytes.length}:`).update(bytes);
  }
  return `sha256:${h.digest('hex')}`;
}
