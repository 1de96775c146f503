import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compactVerify } from 'jose';
import { compactJwsProblem } from '../common/base64url.js';
import type { BundleSigningConfig } from '../config/config.schema.js';
import type { BundleFiles } from '../policy-compiler/bundle-archive.js';
import { PolicyBuildError } from '../policy-compiler/errors.js';
import { canonicalJsonHash } from './canonical-json.js';

/**
 * File hash algorithms accepted in a signature, by OPA's names (v1/bundle/hash.go).
 * OPA writes SHA-256. MD5, SHA-1 and the 224-bit variants are refused: a signature
 * is only as strong as the hash binding it to each file, and MD5/SHA-1 collisions
 * are practical.
 */
const HASHES: Record<string, string> = {
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-256': 'sha512-256',
};

interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

/** What a verified signature asserts. */
export interface VerifiedSignature {
  keyid: string;
  scope?: string;
  files: string[];
}

function fail(message: string): never {
  throw new PolicyBuildError('bundle_signature_invalid', 'verify', message);
}

/** JSON and YAML data files and the manifest are hashed structurally, everything else as bytes. */
function isStructured(name: string): boolean {
  const base = name.split('/').pop() ?? '';
  return base === 'data.json' || base === '.manifest' || base === 'data.yaml' || base === 'data.yml';
}

/** Loads the configured verification keys once. */
export function loadBundleKeys(cfg: BundleSigningConfig): Map<string, { alg: string; key: KeyObject }> {
  const keys = new Map<string, { alg: string; key: KeyObject }>();
  for (const k of cfg.keys) {
    const pem = k.key ?? readFileSync(k.key_file!, 'utf8');
    keys.set(k.keyid, { alg: k.algorithm, key: createPublicKey(pem) });
  }
  return keys;
}

/**
 * Verifies an OPA bundle's `.signatures.json` with jose: exactly one JWS, a key
 * id that names a configured key, the configured algorithm, the signature, the
 * scope, and then that the signed file list equals the bundle's files exactly
 * (nothing missing, nothing added) with every hash matching. A bundle without
 * signatures fails: a configured key with an absent signature is never a pass.
 */
export async function verifyBundleSignature(
  files: BundleFiles,
  keys: Map<string, { alg: string; key: KeyObject }>,
  scope: string | undefined,
): Promise<VerifiedSignature> {
  const raw = files.get('/.signatures.json');
  if (!raw) fail('the bundle is not signed (.signatures.json is missing) and signature verification is configured');
  let signatures: unknown;
  try {
    signatures = (JSON.parse(raw.toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    fail('.signatures.json is not valid JSON');
  }
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== 'string') {
    fail('.signatures.json must hold exactly one signature');
  }
  const jws = signatures[0] as string;
  // One spelling per signature, as for tokens: padding, whitespace or stray trailing bits are refused, not decoded leniently.
  const spelling = compactJwsProblem(jws);
  if (spelling) fail(`the bundle signature's ${spelling}`);
  const [h64, p64] = jws.split('.');
  let header: { kid?: unknown; alg?: unknown };
  let claims: { files?: unknown; keyid?: unknown; scope?: unknown };
  try {
    header = JSON.parse(Buffer.from(h64, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(p64, 'base64url').toString('utf8'));
  } catch {
    fail('the bundle signature is not a compact JWS');
  }
  const keyid = typeof header!.kid === 'string' ? header!.kid : typeof claims!.keyid === 'string' ? claims!.keyid : undefined;
  if (!keyid) fail('the bundle signature names no key id');
  const key = keys.get(keyid!);
  if (!key) fail(`the bundle is signed with key "${keyid}", which is not configured`);
  try {
    await compactVerify(jws, key!.key, { algorithms: [key!.alg] });
  } catch (e) {
    fail(`the bundle signature does not verify with key "${keyid}": ${(e as Error).message}`);
  }
  const signedScope = typeof claims!.scope === 'string' ? claims!.scope : undefined;
  if ((signedScope ?? '') !== (scope ?? '')) {
    fail(`the bundle signature scope "${signedScope ?? ''}" does not match the required scope "${scope ?? ''}"`);
  }
  if (!Array.isArray(claims!.files)) fail('the bundle signature lists no files');
  const signed = new Map<string, SignedFile>();
  for (const f of claims!.files as SignedFile[]) {
    if (!f || typeof f.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string') {
      fail('the bundle signature has a malformed file entry');
    }
    signed.set(f.name.replace(/^\/+/, ''), f);
  }
  const present = [...files.keys()].filter((n) => n !== '/.signatures.json').map((n) => n.replace(/^\/+/, ''));
  for (const name of present) {
    const f = signed.get(name);
    if (!f) fail(`${name} is in the bundle but not in its signature`);
    const alg = Object.hasOwn(HASHES, f!.algorithm) ? HASHES[f!.algorithm] : undefined;
    if (!alg) fail(`${name}: hash algorithm ${f!.algorithm} is not accepted (use SHA-256 or stronger: ${Object.keys(HASHES).join(', ')})`);
    const bytes = files.get(`/${name}`)!;
    let digest: string;
    try {
      digest = isStructured(name) ? canonicalJsonHash(bytes.toString('utf8'), alg) : createHash(alg).update(bytes).digest('hex');
    } catch (e) {
      fail(`${name}: cannot be hashed: ${(e as Error).message}`);
    }
    if (digest! !== f!.hash.toLowerCase()) fail(`${name}: digest mismatch; the file was changed after signing`);
    signed.delete(name);
  }
  if (signed.size > 0) fail(`signed file(s) missing from the bundle: ${[...signed.keys()].join(', ')}`);
  return { keyid: keyid!, scope: signedScope, files: present };
}
