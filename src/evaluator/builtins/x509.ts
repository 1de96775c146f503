/**
 * crypto.x509.* and crypto.parse_private_keys: the inputs OPA accepts (PEM,
 * base64 PEM, base64 DER), in the shape OPA reports (the JSON of Go's
 * x509.Certificate, x509.CertificateRequest and tls.Certificate). Certificates
 * are decoded by x509-cert.ts (@peculiar/asn1-x509), chains checked by
 * x509-chain.ts, keys handled by node:crypto.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { parseCertificate, parseCertificateRequest, type CertInfo } from './x509-cert.js';
import { verifyChain, type VerifyOptions } from './x509-chain.js';

class X509Error extends Error {}

/** The end of the DER element at pos (only to split concatenated certificates; the schemas decode them). */
function derEnd(buf: Buffer, pos: number): number {
  if (pos + 2 > buf.length) throw new X509Error('asn1: structure error: truncated');
  let len = buf[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new X509Error('asn1: structure error: bad length');
    len = buf.readUIntBE(p, n);
    p += n;
  }
  if (p + len > buf.length) throw new X509Error('asn1: structure error: data truncated');
  return p + len;
}

// ---------------------------------------------------------------- inputs

function pemBlocks(text: string): Array<{ type: string; der: Buffer }> {
  const out: Array<{ type: string; der: Buffer }> = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ type: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') });
  return out;
}

function stdBase64(s: string): Buffer {
  const clean = s.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) throw new X509Error('illegal base64 data');
  return Buffer.from(clean, 'base64');
}

/** DER certificates from PEM, base64 PEM or base64 DER (one or several concatenated). */
function certificatesFrom(input: unknown): Buffer[] {
  if (typeof input !== 'string') throw new TypeError('operand must be a string');
  let ders: Buffer[];
  const fromPem = (text: string) => {
    const blocks = pemBlocks(text);
    for (const b of blocks) if (b.type !== 'CERTIFICATE') throw new X509Error(`PEM block type is '${b.type}', expected CERTIFICATE`);
    return blocks.map((b) => b.der);
  };
  if (input.startsWith('-----BEGIN')) ders = fromPem(input);
  else {
    const raw = stdBase64(input);
    if (raw.subarray(0, 10).toString('latin1') === '-----BEGIN') ders = fromPem(raw.toString('latin1'));
    else ders = [raw];
  }
  // Split concatenated DER.
  const out: Buffer[] = [];
  for (const d of ders) {
    let p = 0;
    while (p < d.length) {
      const end = derEnd(d, p);
      out.push(d.subarray(p, end));
      p = end;
    }
  }
  if (out.length === 0) throw new X509Error('x509: no certificates');
  for (const d of out) new X509Certificate(d); // node rejects what is not a certificate
  return out;
}

function parsed(input: unknown): CertInfo[] {
  return certificatesFrom(input).map(parseCertificate);
}

export function x509ParseCertificates(input: unknown): Record<string, unknown>[] {
  return parsed(input).map((p) => p.json);
}

export type { VerifyOptions };

const KEY_USAGE_NAMES: Record<string, number> = {
  KeyUsageAny: 0, KeyUsageServerAuth: 1, KeyUsageClientAuth: 2, KeyUsageCodeSigning: 3, KeyUsageEmailProtection: 4,
  KeyUsageIPSECEndSystem: 5, KeyUsageIPSECTunnel: 6, KeyUsageIPSECUser: 7, KeyUsageTimeStamping: 8, KeyUsageOCSPSigning: 9,
  KeyUsageMicrosoftServerGatedCrypto: 10, KeyUsageNetscapeServerGatedCrypto: 11, KeyUsageMicrosoftCommercialCodeSigning: 12,
  KeyUsageMicrosoftKernelCodeSigning: 13,
};

/** OPA's options object for parse_and_verify_certificates_with_options; throws on unknown keys or values. */
export function verifyOptionsFrom(o: unknown): VerifyOptions {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError('operand 2 must be an object');
  const out: VerifyOptions = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'DNSName') {
      if (typeof v !== 'string') throw new TypeError("'DNSName' should be a string");
      out.dnsName = v;
    } else if (k === 'CurrentTime') {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError("'CurrentTime' should be a valid int64 number");
      out.currentNs = v;
    } else if (k === 'MaxConstraintComparisons') {
      if (typeof v !== 'number') throw new TypeError("'MaxConstraintComparisons' should be a number");
    } else if (k === 'KeyUsages') {
      if (!Array.isArray(v)) throw new TypeError("'KeyUsages' should be an Array or Set");
      const bad = v.filter((x) => typeof x !== 'string' || !(x in KEY_USAGE_NAMES));
      if (bad.length > 0) throw new TypeError(`invalid entries for 'KeyUsages' found: ${bad.join(' ')}`);
      out.keyUsages = v.map((x) => KEY_USAGE_NAMES[x as string]);
    } else throw new TypeError('invalid key option');
  }
  return out;
}

/**
 * crypto.x509.parse_and_verify_certificates: the first certificate is the root,
 * the last the leaf, the rest intermediates; [true, chain from the leaf] when
 * the chain verifies at the decision's time, else [false, []].
 */
export function x509ParseAndVerify(input: unknown, nowNs: number, opts: VerifyOptions = {}): [boolean, Record<string, unknown>[]] {
  try {
    const chain = verifyChain(parsed(input), nowNs, opts);
    return chain ? [true, chain.map((c) => c.json)] : [false, []];
  } catch {
    return [false, []];
  }
}

export function x509ParseCertificateRequest(input: unknown): Record<string, unknown> {
  if (typeof input !== 'string') throw new TypeError('operand must be a string');
  let bytes: Buffer = input.startsWith('-----BEGIN CERTIFICATE REQUEST-----') ? Buffer.from(input, 'latin1') : stdBase64(input);
  const text = bytes.toString('latin1');
  if (text.startsWith('-----BEGIN')) {
    const [block] = pemBlocks(text);
    if (!block || block.type !== 'CERTIFICATE REQUEST') throw new X509Error('invalid PEM-encoded certificate signing request');
    bytes = block.der;
  }
  return parseCertificateRequest(bytes.subarray(0, derEnd(bytes, 0)));
}

function jwkOf(key: KeyObject): Record<string, unknown> {
  return key.export({ format: 'jwk' }) as Record<string, unknown>;
}

export function x509ParseRsaPrivateKey(input: unknown): Record<string, unknown> {
  if (typeof input !== 'string') throw new TypeError('operand must be a string');
  const text = input.startsWith('-----BEGIN') ? input : stdBase64(input).toString('latin1');
  const [block] = pemBlocks(text);
  if (!block) throw new X509Error('failed to parse PEM block containing the key');
  const key = createPrivateKey({ key: block.der, format: 'der', type: block.type === 'RSA PRIVATE KEY' ? 'pkcs1' : 'pkcs8' });
  if (key.asymmetricKeyType !== 'rsa') throw new X509Error('not an RSA private key');
  return jwkOf(key);
}

/** crypto.parse_private_keys: every RSA/EC/PKCS#8 private key in the PEM (or base64 PEM); "" gives null. */
export function parsePrivateKeys(input: unknown): Record<string, unknown>[] | null {
  if (typeof input !== 'string') throw new TypeError('operand must be a string');
  if (input === '') return null;
  let text = input;
  try {
    const decoded = stdBase64(input);
    text = decoded.toString('latin1');
  } catch {
    // not base64: use as given
  }
  const out: Record<string, unknown>[] = [];
  for (const b of pemBlocks(text)) {
    const type = b.type === 'RSA PRIVATE KEY' ? 'pkcs1' : b.type === 'PRIVATE KEY' ? 'pkcs8' : b.type === 'EC PRIVATE KEY' ? 'sec1' : undefined;
    if (!type) continue;
    out.push(jwkOf(createPrivateKey({ key: b.der, format: 'der', type })));
  }
  return out;
}

/** crypto.x509.parse_keypair: Go's tls.Certificate for a certificate and its private key. */
export function x509ParseKeypair(cert: unknown, key: unknown): Record<string, unknown> {
  if (typeof cert !== 'string' || typeof key !== 'string') throw new TypeError('operands must be strings');
  const certText = cert.startsWith('-----BEGIN ') ? cert : stdBase64(cert).toString('latin1');
  const keyText = key.startsWith('-----BEGIN ') ? key : stdBase64(key).toString('latin1');
  const certDers = certText.startsWith('-----BEGIN ')
    ? pemBlocks(certText).filter((b) => b.type === 'CERTIFICATE').map((b) => b.der)
    : [Buffer.from(certText, 'latin1')];
  if (certDers.length === 0) throw new X509Error('tls: failed to find any PEM data in certificate input');
  const [kb] = pemBlocks(keyText).filter((b) => b.type.endsWith('PRIVATE KEY'));
  if (!kb) throw new X509Error('tls: failed to find any PEM data in key input');
  const type = kb.type === 'RSA PRIVATE KEY' ? 'pkcs1' : kb.type === 'EC PRIVATE KEY' ? 'sec1' : 'pkcs8';
  const priv = createPrivateKey({ key: kb.der, format: 'der', type });
  const leaf = new X509Certificate(certDers[0]);
  if (!leaf.checkPrivateKey(priv)) throw new X509Error('tls: private key does not match public key');
  return {
    Certificate: certDers.map((d) => d.toString('base64')),
    PrivateKey: jwkOf(priv),
    SupportedSignatureAlgorithms: null,
    OCSPStaple: null,
    SignedCertificateTimestamps: null,
    Leaf: parseCertificate(certDers[0]).json,
  };
}
