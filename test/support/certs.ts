/**
 * Builds real X.509 v3 certificates (ECDSA P-256, SHA-256) with node:crypto and a
 * small DER writer, so the x509 builtins are tested against certificates made
 * independently of the code that parses them.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...xs: Buffer[]) => tlv(0x30, Buffer.concat(xs));
const set = (...xs: Buffer[]) => tlv(0x31, Buffer.concat(xs));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (b: boolean) => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const explicit = (n: number, b: Buffer) => tlv(0xa0 + n, b);

function int(n: number | bigint): Buffer {
  let hex = BigInt(n).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(s: string): Buffer {
  const parts = s.split('.').map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2), 'latin1')) : tlv(0x18, Buffer.from(s, 'latin1'));
}

const name = (cn: string, org?: string) =>
  seq(...(org ? [set(seq(oid('2.5.4.10'), utf8(org)))] : []), set(seq(oid('2.5.4.3'), utf8(cn))));

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface TestCert {
  pem: string;
  key: KeyObject;
  /** DER of the subject Name, used as the issuer Name of certificates it signs. */
  subject: Buffer;
}

export interface CertSpec {
  cn: string;
  org?: string;
  issuer?: TestCert;
  ca?: boolean;
  /** BasicConstraints pathLenConstraint of a CA. */
  pathLen?: number;
  /** NameConstraints of a CA: DNS subtrees permitted and excluded. */
  permittedDns?: string[];
  excludedDns?: string[];
  dns?: string[];
  uris?: string[];
  /** IPv4 addresses (iPAddress SAN), e.g. 127.0.0.1 for a loopback server. */
  ips?: string[];
  /** Extended key usage OIDs, e.g. 1.3.6.1.5.5.7.3.1 (server auth). */
  eku?: string[];
  notBefore: Date;
  notAfter: Date;
  serial?: bigint;
}

export function makeCert(spec: CertSpec): TestCert {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const exts: Buffer[] = [];
  const pathLen = spec.pathLen === undefined ? [] : [int(spec.pathLen)];
  exts.push(seq(oid('2.5.29.19'), bool(true), octets(spec.ca ? seq(bool(true), ...pathLen) : seq())));
  if (spec.permittedDns || spec.excludedDns) {
    const subtrees = (tag: number, names: string[] | undefined) => (names ? [tlv(tag, Buffer.concat(names.map((d) => seq(tlv(0x82, Buffer.from(d))))))] : []);
    exts.push(seq(oid('2.5.29.30'), bool(true), octets(seq(...subtrees(0xa0, spec.permittedDns), ...subtrees(0xa1, spec.excludedDns)))));
  }
  if (spec.ca) exts.push(seq(oid('2.5.29.15'), bool(true), octets(bits(Buffer.from([0x06])))));
  if (spec.eku) exts.push(seq(oid('2.5.29.37'), octets(seq(...spec.eku.map(oid)))));
  const san = [
    ...(spec.dns ?? []).map((d) => tlv(0x82, Buffer.from(d))),
    ...(spec.uris ?? []).map((u) => tlv(0x86, Buffer.from(u))),
    ...(spec.ips ?? []).map((ip) => tlv(0x87, Buffer.from(ip.split('.').map(Number)))),
  ];
  if (san.length) exts.push(seq(oid('2.5.29.17'), octets(seq(...san))));
  const subject = name(spec.cn, spec.org);
  const issuerName = spec.issuer ? spec.issuer.subject : subject;
  const tbs = seq(
    explicit(0, int(2)),
    int(spec.serial ?? 4242n),
    ECDSA_SHA256,
    issuerName,
    seq(time(spec.notBefore), time(spec.notAfter)),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, spec.issuer?.key ?? privateKey);
  const der = seq(tbs, ECDSA_SHA256, bits(signature));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return { pem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, key: privateKey, subject };
}
