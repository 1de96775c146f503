import { sortKeys } from './misc.js';
import { createHmac, createPrivateKey, createPublicKey, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, X509Certificate, constants, type KeyObject } from 'node:crypto';

/**
 * io.jwt.* for Rego under wasm, synchronous with node:crypto (the SDK calls
 * builtins synchronously, so jose's async WebCrypto cannot be used here).
 * Semantics follow OPA's v1/topdown/tokens.go: malformed input is an error
 * (undefined in non-strict Rego); a signature that does not verify is `false`.
 */

type Json = Record<string, unknown>;

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
const ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA']);

function b64urlDecode(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) throw new TypeError(`JWT ${what} had invalid encoding`);
  return Buffer.from(s, 'base64url');
}

function jsonObject(buf: Buffer, what: string): Json {
  const v = JSON.parse(buf.toString('utf8')) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`JWT ${what} must be a JSON object`);
  return v as Json;
}

interface Parts {
  h64: string;
  p64: string;
  s64: string;
  header: Json;
}

function split(token: unknown): Parts {
  if (typeof token !== 'string') throw new TypeError('token must be a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw new TypeError('encoded JWT had no period separators');
  const header = jsonObject(b64urlDecode(parts[0], 'header'), 'header');
  if ('enc' in header) throw new TypeError('JWT is a JWE object, which is not supported');
  return { h64: parts[0], p64: parts[1], s64: parts[2], header };
}

/** io.jwt.decode(jwt) = [header, payload, signature as hex]; nested JWTs (cty: JWT) are decoded recursively. */
export function jwtDecode(token: unknown): unknown {
  const t = split(token);
  const payloadBytes = b64urlDecode(t.p64, 'payload');
  if (typeof t.header.cty === 'string' && t.header.cty.toUpperCase() === 'JWT') {
    return jwtDecode(payloadBytes.toString('utf8').replace(/^["']+|["']+$/g, ''));
  }
  return [t.header, jsonObject(payloadBytes, 'payload'), b64urlDecode(t.s64, 'signature').toString('hex')];
}

interface VerifyKey {
  key: KeyObject;
  kid?: string;
  alg?: string;
}

/** A PEM certificate, a PEM public key, a JWK or a JWKS (as a JSON string). */
function parseKeys(material: string): VerifyKey[] {
  const trimmed = material.trim();
  if (trimmed.startsWith('-----BEGIN CERTIFICATE-----')) {
    // OPA refuses anything after the PEM block.
    if (!trimmed.endsWith('-----END CERTIFICATE-----')) throw new TypeError('extra data after a PEM certificate block');
    return [{ key: new X509Certificate(trimmed).publicKey }];
  }
  if (trimmed.startsWith('-----BEGIN')) return [{ key: createPublicKey(trimmed) }];
  const doc = JSON.parse(trimmed) as Json;
  const jwks = Array.isArray(doc.keys) ? (doc.keys as Json[]) : [doc];
  return jwks.map((jwk) => ({
    key: createPublicKey({ key: jwk as never, format: 'jwk' }),
    kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
    alg: typeof jwk.alg === 'string' ? jwk.alg : undefined,
  }));
}

function verifySig(alg: string, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    if (alg === 'EdDSA') return cryptoVerify(null, data, key, sig);
    const hash = HASH[alg.slice(2)];
    if (!hash) return false;
    if (alg.startsWith('RS')) return cryptoVerify(hash, data, key, sig);
    if (alg.startsWith('PS')) return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
    if (alg.startsWith('ES')) return cryptoVerify(hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
  return false;
}

function hmacOk(alg: string, secret: string, data: Buffer, sig: Buffer): boolean {
  const hash = HASH[alg.slice(2)];
  if (!hash) return false;
  const mac = createHmac(hash, secret).update(data).digest();
  return mac.length === sig.length && timingSafeEqual(mac, sig);
}

/** io.jwt.verify_<alg>(jwt, certificate_or_key) for asymmetric algorithms. */
export function jwtVerifyAsym(alg: string) {
  return (token: unknown, material: unknown): boolean => {
    const t = split(token);
    if (typeof material !== 'string') throw new TypeError('certificate must be a string');
    const keys = parseKeys(material);
    const data = Buffer.from(`${t.h64}.${t.p64}`);
    const sig = b64urlDecode(t.s64, 'signature');
    return keys.some((k) => verifySig(alg, k.key, data, sig));
  };
}

/** io.jwt.verify_hs<bits>(jwt, secret). */
export function jwtVerifyHmac(alg: string) {
  return (token: unknown, secret: unknown): boolean => {
    const t = split(token);
    if (typeof secret !== 'string') throw new TypeError('secret must be a string');
    return hmacOk(alg, secret, Buffer.from(`${t.h64}.${t.p64}`), b64urlDecode(t.s64, 'signature'));
  };
}

const UNVERIFIED = [false, {}, {}];

/** io.jwt.decode_verify(jwt, constraints) = [valid, header, payload]; `nowNs` is the evaluation time. */
export function jwtDecodeVerify(token: unknown, constraints: unknown, nowNs: number): unknown {
  if (!constraints || typeof constraints !== 'object' || Array.isArray(constraints)) throw new TypeError('constraints must be an object');
  const c = constraints as Json;
  for (const k of Object.keys(c)) {
    if (!['cert', 'secret', 'alg', 'iss', 'aud', 'time'].includes(k)) throw new TypeError(`unknown token validation constraint: ${k}`);
  }
  const hasCert = typeof c.cert === 'string';
  const hasSecret = typeof c.secret === 'string';
  if (hasCert === hasSecret) throw new TypeError(hasCert ? 'duplicate key constraints' : 'no key constraint');
  const keys = hasCert ? parseKeys(c.cert as string) : [];
  const time = typeof c.time === 'number' ? c.time : nowNs;
  let current = token;
  let parts: Parts;
  let payloadBytes: Buffer;
  for (;;) {
    parts = split(current);
    const alg = parts.header.alg;
    if (typeof alg !== 'string' || !ALGS.has(alg)) return UNVERIFIED;
    // No critical header parameters are understood, so any makes the token invalid (RFC 7515 §4.1.11).
    if (parts.header.crit !== undefined) return UNVERIFIED;
    if (typeof c.alg === 'string' && c.alg !== alg) return UNVERIFIED;
    const data = Buffer.from(`${parts.h64}.${parts.p64}`);
    const sig = b64urlDecode(parts.s64, 'signature');
    let ok: boolean;
    if (hasSecret) ok = alg.startsWith('HS') && hmacOk(alg, c.secret as string, data, sig);
    else {
      const kid = typeof parts.header.kid === 'string' ? parts.header.kid : undefined;
      const byKid = kid ? keys.find((k) => k.kid === kid) : undefined;
      if (byKid) ok = verifySig(alg, byKid.key, data, sig);
      else ok = keys.some((k) => (!k.alg || k.alg === alg) && verifySig(alg, k.key, data, sig));
    }
    if (!ok) return UNVERIFIED;
    payloadBytes = b64urlDecode(parts.p64, 'payload');
    if (typeof parts.header.cty === 'string' && parts.header.cty.toUpperCase() === 'JWT') {
      current = payloadBytes.toString('utf8');
      continue;
    }
    break;
  }
  const payload = jsonObject(payloadBytes, 'payload');
  if (typeof c.iss === 'string' && payload.iss !== c.iss) return UNVERIFIED;
  if (payload.aud !== undefined) {
    const aud = payload.aud;
    const want = typeof c.aud === 'string' ? c.aud : '';
    const ok = typeof aud === 'string' ? aud === want : Array.isArray(aud) && aud.some((a) => a === want);
    if (!ok) return UNVERIFIED;
  } else if (typeof c.aud === 'string' && c.aud !== '') return UNVERIFIED;
  const nowS = time / 1e9;
  if (payload.exp !== undefined) {
    if (typeof payload.exp !== 'number') throw new TypeError('exp value must be a number');
    if (nowS >= payload.exp) return UNVERIFIED;
  }
  if (payload.nbf !== undefined) {
    if (typeof payload.nbf !== 'number') throw new TypeError('nbf value must be a number');
    if (nowS < payload.nbf) return UNVERIFIED;
  }
  return [true, parts.header, payload];
}

function signWith(alg: string, key: Json, data: Buffer): Buffer {
  if (alg.startsWith('HS')) {
    if (typeof key.k !== 'string') throw new TypeError('HMAC key must be a JWK with "k"');
    return createHmac(HASH[alg.slice(2)], Buffer.from(key.k, 'base64url')).update(data).digest();
  }
  const priv = createPrivateKey({ key: key as never, format: 'jwk' });
  if (alg === 'EdDSA') return cryptoSign(null, data, priv);
  const hash = HASH[alg.slice(2)];
  if (!hash) throw new TypeError(`unsupported algorithm ${alg}`);
  if (alg.startsWith('RS')) return cryptoSign(hash, data, priv);
  if (alg.startsWith('PS')) return cryptoSign(hash, data, { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  if (alg.startsWith('ES')) return cryptoSign(hash, data, { key: priv, dsaEncoding: 'ieee-p1363' });
  throw new TypeError(`unsupported algorithm ${alg}`);
}

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

/** io.jwt.encode_sign_raw(header, payload, key): the three as JSON strings. */
export function jwtEncodeSignRaw(header: unknown, payload: unknown, key: unknown): string {
  if (typeof header !== 'string' || typeof payload !== 'string' || typeof key !== 'string') throw new TypeError('operands must be strings');
  const h = JSON.parse(header) as Json;
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new TypeError('header must be a JSON object');
  // A text/plain payload is signed as given; anything else must be a JSON object.
  if (h.typ !== 'text/plain') {
    const body = JSON.parse(payload) as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('payload must be a JSON object');
  }
  const alg = String(h.alg ?? '');
  if (!ALGS.has(alg)) throw new TypeError(`unknown signature algorithm ${alg}`);
  const data = `${b64url(header)}.${b64url(payload)}`;
  return `${data}.${b64url(signWith(alg, JSON.parse(key) as Json, Buffer.from(data)))}`;
}

/** io.jwt.encode_sign(headers, payload, key): the three as objects. */
export function jwtEncodeSign(header: unknown, payload: unknown, key: unknown): string {
  // Objects serialize with sorted keys, as OPA (Go) marshals them.
  return jwtEncodeSignRaw(JSON.stringify(sortKeys(header)), JSON.stringify(sortKeys(payload)), JSON.stringify(key));
}
