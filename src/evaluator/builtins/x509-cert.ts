/**
 * Certificates and certificate requests in the shape OPA reports (the JSON of
 * Go's x509.Certificate and x509.CertificateRequest, plus OPA's URIStrings).
 * DER, names and extensions are decoded by @peculiar/asn1-x509's schemas (the
 * parsing layer of @peculiar/x509); this file only maps them to Go's fields.
 */
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, Certificate, ExtendedKeyUsage, GeneralName,
  KeyUsage, NameConstraints, SubjectAlternativeName, SubjectKeyIdentifier, type Name,
} from '@peculiar/asn1-x509';
import { goParseUrl } from './uri.js';

export type CertJson = Record<string, unknown>;

/** Base64 of a buffer or of a view on one (the schemas' OctetString is a view without being a typed array). */
const b64 = (b: ArrayBuffer | { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): string =>
  (b instanceof ArrayBuffer ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('base64');
const der = (asn: unknown): string => b64(AsnConvert.serialize(asn));
const oidArray = (oid: string): number[] => oid.split('.').map(Number);

/** Go's pkix.Name fields for the attribute types it names. */
const NAME_FIELDS: Record<string, string> = {
  '2.5.4.6': 'Country', '2.5.4.10': 'Organization', '2.5.4.11': 'OrganizationalUnit', '2.5.4.7': 'Locality',
  '2.5.4.8': 'Province', '2.5.4.9': 'StreetAddress', '2.5.4.17': 'PostalCode',
};

/** Go's pkix.Name from a decoded RDNSequence. */
function pkixName(rdns: Name): CertJson {
  const name: CertJson = {
    Country: null, Organization: null, OrganizationalUnit: null, Locality: null, Province: null,
    StreetAddress: null, PostalCode: null, SerialNumber: '', CommonName: '', Names: [] as unknown[], ExtraNames: null,
  };
  for (const atv of rdns.flat()) {
    const s = atv.value.toString();
    (name.Names as unknown[]).push({ Type: oidArray(atv.type), Value: s });
    if (atv.type === '2.5.4.3') name.CommonName = s;
    else if (atv.type === '2.5.4.5') name.SerialNumber = s;
    else if (NAME_FIELDS[atv.type]) name[NAME_FIELDS[atv.type]] = [...((name[NAME_FIELDS[atv.type]] as string[] | null) ?? []), s];
  }
  return name;
}

/** Go's ExtKeyUsage numbers. */
const EKU: Record<string, number> = {
  '2.5.29.37.0': 0, '1.3.6.1.5.5.7.3.1': 1, '1.3.6.1.5.5.7.3.2': 2, '1.3.6.1.5.5.7.3.3': 3, '1.3.6.1.5.5.7.3.4': 4,
  '1.3.6.1.5.5.7.3.5': 5, '1.3.6.1.5.5.7.3.6': 6, '1.3.6.1.5.5.7.3.7': 7, '1.3.6.1.5.5.7.3.8': 8, '1.3.6.1.5.5.7.3.9': 9,
  '1.3.6.1.4.1.311.10.3.3': 10, '2.16.840.1.113730.4.1': 11, '1.3.6.1.4.1.311.2.1.22': 12, '1.3.6.1.4.1.311.61.1.1': 13,
};

function goUrl(s: string): CertJson {
  const u = goParseUrl(s);
  return { Scheme: u.scheme, Opaque: u.opaque, User: null, Host: u.host, Path: u.path, RawPath: u.rawPath, OmitHost: false, ForceQuery: false, RawQuery: u.rawQuery, Fragment: u.fragment, RawFragment: '' };
}

const nonEmpty = <T>(xs: T[]): T[] | null => (xs.length > 0 ? xs : null);
const goTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A parsed certificate: OPA's JSON, its DER, and the decoded names chain verification checks. */
export interface CertInfo {
  json: CertJson;
  der: Buffer;
  sans: GeneralName[];
  constraints?: NameConstraints;
}

/** Go's x509.Certificate JSON (the fields policies use) plus what chain checks need. */
export function parseCertificate(bytes: Buffer): CertInfo {
  const cert = AsnConvert.parse(bytes, Certificate);
  const tbs = cert.tbsCertificate;
  const out: CertJson = {
    Raw: bytes.toString('base64'),
    RawTBSCertificate: cert.tbsCertificateRaw ? b64(cert.tbsCertificateRaw) : der(tbs),
    RawSubjectPublicKeyInfo: der(tbs.subjectPublicKeyInfo),
    RawSubject: der(tbs.subject),
    RawIssuer: der(tbs.issuer),
    Signature: b64(cert.signatureValue),
    Version: tbs.version + 1,
    SerialNumber: BigInt(`0x${Buffer.from(tbs.serialNumber).toString('hex') || '0'}`),
    Issuer: pkixName(tbs.issuer),
    Subject: pkixName(tbs.subject),
    NotBefore: goTime(tbs.validity.notBefore.getTime()),
    NotAfter: goTime(tbs.validity.notAfter.getTime()),
    KeyUsage: 0, Extensions: [] as unknown[], ExtKeyUsage: null, UnknownExtKeyUsage: null,
    BasicConstraintsValid: false, IsCA: false, MaxPathLen: 0, MaxPathLenZero: false,
    SubjectKeyId: null, AuthorityKeyId: null, OCSPServer: null, IssuingCertificateURL: null,
    DNSNames: null, EmailAddresses: null, IPAddresses: null, URIs: null, URIStrings: null, CRLDistributionPoints: null,
  };
  const info: CertInfo = { json: out, der: bytes, sans: [] };
  for (const ext of tbs.extensions ?? []) {
    const { buffer, byteOffset, byteLength } = ext.extnValue;
    const value = buffer.slice(byteOffset, byteOffset + byteLength);
    (out.Extensions as unknown[]).push({ Id: oidArray(ext.extnID), Critical: ext.critical, Value: b64(value) });
    switch (ext.extnID) {
      case '2.5.29.15':
        out.KeyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
        break;
      case '2.5.29.19': {
        const bc = AsnConvert.parse(value, BasicConstraints);
        Object.assign(out, { BasicConstraintsValid: true, IsCA: bc.cA, MaxPathLen: bc.pathLenConstraint ?? -1, MaxPathLenZero: bc.pathLenConstraint === 0 });
        break;
      }
      case '2.5.29.37': {
        const oids = [...AsnConvert.parse(value, ExtendedKeyUsage)];
        out.ExtKeyUsage = nonEmpty(oids.filter((o) => o in EKU).map((o) => EKU[o]));
        out.UnknownExtKeyUsage = nonEmpty(oids.filter((o) => !(o in EKU)).map(oidArray));
        break;
      }
      case '2.5.29.14':
        out.SubjectKeyId = b64(AsnConvert.parse(value, SubjectKeyIdentifier));
        break;
      case '2.5.29.35': {
        const aki = AsnConvert.parse(value, AuthorityKeyIdentifier);
        if (aki.keyIdentifier) out.AuthorityKeyId = b64(aki.keyIdentifier);
        break;
      }
      case '2.5.29.17': {
        info.sans = [...AsnConvert.parse(value, SubjectAlternativeName)];
        const pick = (f: (g: GeneralName) => string | undefined) => nonEmpty(info.sans.map(f).filter((s): s is string => s !== undefined));
        const uris = pick((g) => g.uniformResourceIdentifier);
        Object.assign(out, {
          DNSNames: pick((g) => g.dNSName), EmailAddresses: pick((g) => g.rfc822Name), IPAddresses: pick((g) => g.iPAddress),
          URIs: uris && uris.map(goUrl), URIStrings: uris,
        });
        break;
      }
      case '2.5.29.30':
        info.constraints = AsnConvert.parse(value, NameConstraints);
        break;
      case '1.3.6.1.5.5.7.1.1': {
        const access = [...AsnConvert.parse(value, AuthorityInfoAccessSyntax)];
        const urls = (method: string) => nonEmpty(access.filter((a) => a.accessMethod === method && a.accessLocation.uniformResourceIdentifier !== undefined).map((a) => a.accessLocation.uniformResourceIdentifier!));
        Object.assign(out, { OCSPServer: urls('1.3.6.1.5.5.7.48.1'), IssuingCertificateURL: urls('1.3.6.1.5.5.7.48.2') });
        break;
      }
      default:
    }
  }
  return info;
}

/** Go's x509.CertificateRequest JSON (the fields OPA's tests and policies use). */
export function parseCertificateRequest(bytes: Buffer): CertJson {
  const csr = AsnConvert.parse(bytes, CertificationRequest);
  const info = csr.certificationRequestInfo;
  return {
    Raw: bytes.toString('base64'),
    RawTBSCertificateRequest: csr.certificationRequestInfoRaw ? b64(csr.certificationRequestInfoRaw) : der(info),
    RawSubjectPublicKeyInfo: der(info.subjectPKInfo),
    RawSubject: der(info.subject),
    Version: info.version,
    Signature: b64(csr.signature),
    Subject: pkixName(info.subject),
  };
}
