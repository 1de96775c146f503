import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Revocation, RevocationKind } from './revocation.service.js';

/** The revocation file's format. */
export interface RevocationFile {
  version: 1;
  revocations: Revocation[];
}

const KINDS: RevocationKind[] = ['jti', 'sub', 'client_id'];

/** Checks a parsed revocation file; fills in missing ids and creation times. */
export function validateRevocationFile(raw: unknown): Revocation[] {
  const doc = raw as Partial<RevocationFile> | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.revocations)) throw new Error('expected {"version": 1, "revocations": [...]}');
  return doc.revocations.map((r, i) => {
    if (!r || typeof r !== 'object') throw new Error(`revocations[${i}] is not an object`);
    if (!KINDS.includes(r.kind)) throw new Error(`revocations[${i}].kind must be one of ${KINDS.join(', ')}`);
    if (typeof r.value !== 'string' || !r.value) throw new Error(`revocations[${i}].value must be a non-empty string`);
    if (r.issued_before !== undefined && typeof r.issued_before !== 'number') throw new Error(`revocations[${i}].issued_before must be epoch seconds`);
    return { ...r, id: typeof r.id === 'string' && r.id ? r.id : randomUUID(), created_at: r.created_at ?? new Date().toISOString() };
  });
}

/** fsync a directory so a rename in it survives a crash; some platforms cannot, which is no error there. */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh.close();
  }
}

/**
 * Writes the rules durably and returns the text written: the temp file is
 * fsynced before the rename and the directory after it, so a crash or power
 * loss leaves either the old file or the new one, never an empty or missing one.
 */
export async function writeRevocationFile(file: string, rules: Revocation[]): Promise<string> {
  const text = JSON.stringify({ version: 1, revocations: rules } satisfies RevocationFile, null, 2) + '\n';
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.${createHash('sha256').update(text).digest('hex').slice(0, 8)}.tmp`;
  await mkdir(dir, { recursive: true });
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDirectory(dir);
  return text;
}
