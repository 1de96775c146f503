/**
 * crypto.x509.* and crypto.parse_private_keys with node:crypto, in the shape
 * OPA reports (the JSON of Go's x509.Certificate, x509.CertificateRequest and
 * tls.Certificate, plus OPA's URIStrings). Parsing of names and extensions is
 * done with a small DER reader here; signatures, keys and chain checks use
 * node:crypto. Chain verification uses the decision's time, not the wall
 * clock, so a decision stays reproducible.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { goParseUrl } from './uri.js';

class X509Error extends Error {}

// ---------------------------------------------------------------- DER

interface Tlv {
  tag: number;
  start: number; // of the whole element
  valueStart: number;
  end: number;
  der: Buffer;
}

function readTlv(buf: Buffer, pos: number): Tlv {
  if (pos + 2 > buf.length) throw new X509Error('asn1: structure error: truncated');
  const tag = buf[pos];
  let len = buf[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new X509Error('asn1: structure error: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new X509Error('asn1: structure error: data truncated');
  return { tag, start: pos, valueStart: p, end: p + len, der: buf };
}

function children(t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = t.valueStart;
  while (p < t.end) {
    const c = readTlv(t.der, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

function value(t: Tlv): Buffer {
  return t.der.subarray(t.valueStart, t.end);
}

function oid(t: Tlv): number[] {
  const b = value(t);
  const out: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (out.length === 0) out.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else out.push(v);
      v = 0;
    }
  }
  return out;
}

function str(t: Tlv): string {
  const b = value(t);
  if (t.tag === 0x1e) {
    // BMPString: UTF-16BE
    let s = '';
    for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
    return s;
  }
  return t.tag === 0x0c ? b.toString('utf8') : b.toString('latin1');
}

const NAME_FIELDS: Record<string, string> = {
  '2.5.4.6': 'Country',
  '2.5.4.10': 'Organization',
  '2.5.4.11': 'OrganizationalUnit',
  '2.5.4.7': 'Locality',
  '2.5.4.8': 'Province',
  '2.5.4.9': 'StreetAddress',
  '2.5.4.17': 'PostalCode',
};

/** Go's pkix.Name from an RDNSequence. */
function pkixName(t: Tlv): Record<string, unknown> {
  const name: Record<string, unknown> = {
    Country: null, Organization: null, OrganizationalUnit: null, Locality: null, Province: null,
    StreetAddress: null, PostalCode: null, SerialNumber: '', CommonName: '', Names: [] as unknown[], ExtraNames: null,
  };
  for (const set of children(t)) {
    for (const atv of children(set)) {
      const [o, v] = children(atv);
      const type = oid(o);
      const key = type.join('.');
      const s = str(v);
      (name.Names as unknown[]).push({ Type: type, Value: s });
      if (key === '2.5.4.3') name.CommonName = s;
      else if (key === '2.5.4.5') name.SerialNumber = s;
      else if (NAME_FIELDS[key]) {
        const f = NAME_FIELDS[key];
        name[f] = [...((name[f] as string[] | null) ?? []), s];
      }
    }
  }
  return name;
}

function goTime(t: Tlv): string {
  const s = value(t).toString('latin1');
  // UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ
  const m = t.tag === 0x17 ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s) : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  if (!m) throw new X509Error('x509: malformed validity');
  const year = t.tag === 0x17 ? (Number(m[1]) >= 50 ? 1900 : 2000) + Number(m[1]) : Number(m[1]);
  return `${String(year).padStart(4, '0')}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
}

function bigUnsigned(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

const EKU: Record<string, number> = {
  '2.5.29.37.0': 0, '1.3.6.1.5.5.7.3.1': 1, '1.3.6.1.5.5.7.3.2': 2, '1.3.6.1.5.5.7.3.3': 3, '1.3.6.1.5.5.7.3.4': 4,
  '1.3.6.1.5.5.7.3.5': 5, '1.3.6.1.5.5.7.3.6': 6, '1.3.6.1.5.5.7.3.7': 7, '1.3.6.1.5.5.7.3.8': 8, '1.3.6.1.5.5.7.3.9': 9,
  '1.3.6.1.4.1.311.10.3.3': 10, '2.16.840.1.113730.4.1': 11, '1.3.6.1.4.1.311.2.1.22': 12, '1.3.6.1.4.1.311.61.1.1': 13,
};

function goUrl(s: string): Record<string, unknown> {
  const u = goParseUrl(s);
  return { Scheme: u.scheme, Opaque: u.opaque, User: null, Host: u.host, Path: u.path, RawPath: u.rawPath, OmitHost: false, ForceQuery: false, RawQuery: u.rawQuery, Fragment: u.fragment, RawFragment: '' };
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

interface Parsed {
  json: Record<string, unknown>;
  der: Buffer;
}

/** The JSON of Go's x509.Certificate (the fields policies use), plus URIStrings. */
function certificateJson(der: Buffer): Record<string, unknown> {
  const cert = readTlv(der, 0);
  const [tbs, , sig] = children(cert);
  let parts = children(tbs);
  let version = 1;
  if (parts[0].tag === 0xa0) {
    version = Number(bigUnsigned(value(children(parts[0])[0]))) + 1;
    parts = parts.slice(1);
  }
  const [serial, , issuer, validity, subject, spki, ...rest] = parts;
  const [notBefore, notAfter] = children(validity);
  const out: Record<string, unknown> = {
    Raw: der.toString('base64'),
    RawTBSCertificate: der.subarray(tbs.start, tbs.end).toString('base64'),
    RawSubjectPublicKeyInfo: der.subarray(spki.start, spki.end).toString('base64'),
    RawSubject: der.subarray(subject.start, subject.end).toString('base64'),
    RawIssuer: der.subarray(issuer.start, issuer.end).toString('base64'),
    Signature: value(sig).subarray(1).toString('base64'),
    Version: version,
    SerialNumber: bigUnsigned(value(serial)),
    Issuer: pkixName(issuer),
    Subject: pkixName(subject),
    NotBefore: goTime(notBefore),
    NotAfter: goTime(notAfter),
    KeyUsage: 0,
    Extensions: [] as unknown[],
    ExtKeyUsage: null,
    UnknownExtKeyUsage: null,
    BasicConstraintsValid: false,
    IsCA: false,
    MaxPathLen: 0,
    MaxPathLenZero: false,
    SubjectKeyId: null,
    AuthorityKeyId: null,
    OCSPServer: null,
    IssuingCertificateURL: null,
    DNSNames: null,
    EmailAddresses: null,
    IPAddresses: null,
    URIs: null,
    URIStrings: null,
    CRLDistributionPoints: null,
  };
  const extsWrap = rest.find((t) => t.tag === 0xa3);
  for (const ext of extsWrap ? children(children(extsWrap)[0]) : []) {
    const fields = children(ext);
    const id = oid(fields[0]).join('.');
    const critical = fields.length === 3 && value(fields[1])[0] !== 0;
    const octets = fields[fields.length - 1];
    (out.Extensions as unknown[]).push({ Id: oid(fields[0]), Critical: critical, Value: value(octets).toString('base64') });
    const inner = readTlv(value(octets), 0);
    switch (id) {
      case '2.5.29.15': {
        // KeyUsage BIT STRING, Go numbers bits from the most significant.
        const b = value(inner);
        let ku = 0;
        for (let i = 0; i < 9; i++) if (b[1 + (i >> 3)] !== undefined && b[1 + (i >> 3)] & (0x80 >> (i & 7))) ku |= 1 << i;
        out.KeyUsage = ku;
        break;
      }
      case '2.5.29.19': {
        out.BasicConstraintsValid = true;
        for (const c of children(inner)) {
          if (c.tag === 0x01) out.IsCA = value(c)[0] !== 0;
          if (c.tag === 0x02) {
            out.MaxPathLen = Number(bigUnsigned(value(c)));
            out.MaxPathLenZero = out.MaxPathLen === 0;
          }
        }
        if (!children(inner).some((c) => c.tag === 0x02)) out.MaxPathLen = -1;
        break;
      }
      case '2.5.29.37': {
        const known: number[] = [];
        const unknown: number[][] = [];
        for (const c of children(inner)) {
          const o = oid(c);
          const k = EKU[o.join('.')];
          if (k === undefined) unknown.push(o);
          else known.push(k);
        }
        out.ExtKeyUsage = known.length ? known : null;
        out.UnknownExtKeyUsage = unknown.length ? unknown : null;
        break;
      }
      case '2.5.29.14':
        out.SubjectKeyId = value(inner).toString('base64');
        break;
      case '2.5.29.35': {
        const k = children(inner).find((c) => c.tag === 0x80);
        if (k) out.AuthorityKeyId = value(k).toString('base64');
        break;
      }
      case '2.5.29.17': {
        const dns: string[] = [];
        const emails: string[] = [];
        const ips: string[] = [];
        const uris: string[] = [];
        for (const gn of children(inner)) {
          const v = value(gn);
          if (gn.tag === 0x82) dns.push(v.toString('latin1'));
          else if (gn.tag === 0x81) emails.push(v.toString('latin1'));
          else if (gn.tag === 0x87) ips.push(ipString(v));
          else if (gn.tag === 0x86) uris.push(v.toString('latin1'));
        }
        if (dns.length) out.DNSNames = dns;
        if (emails.length) out.EmailAddresses = emails;
        if (ips.length) out.IPAddresses = ips;
        if (uris.length) {
          out.URIs = uris.map(goUrl);
          out.URIStrings = uris;
        }
        break;
      }
      case '1.3.6.1.5.5.7.1.1': {
        const ocsp: string[] = [];
        const issuers: string[] = [];
        for (const ad of children(inner)) {
          const [m, loc] = children(ad);
          if (loc.tag !== 0x86) continue;
          const method = oid(m).join('.');
          if (method === '1.3.6.1.5.5.7.48.1') ocsp.push(value(loc).toString('latin1'));
          if (method === '1.3.6.1.5.5.7.48.2') issuers.push(value(loc).toString('latin1'));
        }
        if (ocsp.length) out.OCSPServer = ocsp;
        if (issuers.length) out.IssuingCertificateURL = issuers;
        break;
      }
      default:
    }
  }
  return out;
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
      const t = readTlv(d, p);
      out.push(d.subarray(t.start, t.end));
      p = t.end;
    }
  }
  if (out.length === 0) throw new X509Error('x509: no certificates');
  for (const d of out) new X509Certificate(d); // node rejects what is not a certificate
  return out;
}

function parsed(input: unknown): Parsed[] {
  return certificatesFrom(input).map((der) => ({ der, json: certificateJson(der) }));
}

export function x509ParseCertificates(input: unknown): Record<string, unknown>[] {
  return parsed(input).map((p) => p.json);
}

/**
 * crypto.x509.parse_and_verify_certificates: the first certificate is the root,
 * the last the leaf, the rest intermediates; the chain is built from the leaf
 * and checked for signatures, CA flags, validity at the decision time, and the
 * leaf's extended key usage (server auth or any, Go's default).
 */
export interface VerifyOptions {
  dnsName?: string;
  /** Go ExtKeyUsage numbers; empty means server auth (Go's default). */
  keyUsages?: number[];
  currentNs?: number;
}

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

export function x509ParseAndVerify(input: unknown, nowNs: number, opts: VerifyOptions = {}): [boolean, Record<string, unknown>[]] {
  let certs: Parsed[];
  try {
    certs = parsed(input);
  } catch {
    return [false, []];
  }
  if (certs.length < 2) return [false, []];
  const x = certs.map((c) => new X509Certificate(c.der));
  const now = new Date((opts.currentNs ?? nowNs) / 1e6);
  const valid = (c: X509Certificate) => new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  const rootIdx = 0;
  const leafIdx = certs.length - 1;
  const chain = [leafIdx];
  const used = new Set([leafIdx]);
  let cur = leafIdx;
  for (let depth = 0; depth < certs.length; depth++) {
    if (cur === rootIdx) break;
    const candidates = [...certs.keys()].filter((i) => !used.has(i) || i === rootIdx);
    const next = candidates.find((i) => x[cur].checkIssued(x[i]) && x[cur].verify(x[i].publicKey) && x[i].ca);
    if (next === undefined) return [false, []];
    chain.push(next);
    used.add(next);
    cur = next;
  }
  if (cur !== rootIdx || !x[rootIdx].verify(x[rootIdx].publicKey)) return [false, []];
  if (!chain.every((i) => valid(x[i]))) return [false, []];
  const wanted = opts.keyUsages && opts.keyUsages.length > 0 ? opts.keyUsages : [1];
  const eku = certs[leafIdx].json.ExtKeyUsage as number[] | null;
  if (!wanted.includes(0) && eku && !eku.includes(0) && !wanted.some((u) => eku.includes(u))) return [false, []];
  if (opts.dnsName !== undefined && opts.dnsName !== '') {
    const leaf = x[leafIdx];
    const ok = /^[\d.]+$|:/.test(opts.dnsName) ? leaf.checkIP(opts.dnsName) !== undefined : leaf.checkHost(opts.dnsName, { subject: 'never' }) !== undefined;
    if (!ok) return [false, []];
  }
  return [true, chain.map((i) => certs[i].json)];
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
  const csr = readTlv(bytes, 0);
  if (csr.tag !== 0x30) throw new X509Error('asn1: structure error');
  const [info, , sig] = children(csr);
  const [ver, subject, spki] = children(info);
  return {
    Raw: bytes.subarray(csr.start, csr.end).toString('base64'),
    RawTBSCertificateRequest: bytes.subarray(info.start, info.end).toString('base64'),
    RawSubjectPublicKeyInfo: bytes.subarray(spki.start, spki.end).toString('base64'),
    RawSubject: bytes.subarray(subject.start, subject.end).toString('base64'),
    Version: Number(bigUnsigned(value(ver))),
    Signature: value(sig).subarray(1).toString('base64'),
    Subject: pkixName(subject),
  };
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
    Leaf: certificateJson(certDers[0]),
  };
}
