/**
 * Chain verification for crypto.x509.parse_and_verify_certificates, following
 * Go's x509.Certificate.Verify (which OPA calls): signatures and issuer names
 * by node:crypto (synchronous, as host builtins must be), and on the decoded
 * extensions of x509-cert.ts: CA flags, path length, name constraints on the
 * leaf's alternative names, and extended key usage along the whole chain.
 * Times are the decision's, not the wall clock, so a decision is reproducible.
 */
import { BlockList, isIP } from 'node:net';
import { X509Certificate } from 'node:crypto';
import type { GeneralName, NameConstraints } from '@peculiar/asn1-x509';
import type { CertInfo } from './x509-cert.js';
import { goParseUrl } from './uri.js';

export interface VerifyOptions {
  dnsName?: string;
  /** Go ExtKeyUsage numbers; empty means server auth (Go's default). */
  keyUsages?: number[];
  currentNs?: number;
}

/** Go's matchDomainConstraint: "" matches all, ".x" only subdomains of x, "x" x and its subdomains. */
function domainMatches(domain: string, constraint: string): boolean {
  const d = domain.toLowerCase();
  const c = constraint.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return d.endsWith(c);
  return d === c || d.endsWith(`.${c}`);
}

function ipMatches(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const family = isIP(base) === 6 ? 'ipv6' : 'ipv4';
  if (isIP(ip) !== isIP(base) || bits === undefined) return false;
  const list = new BlockList();
  list.addSubnet(base, Number(bits), family);
  return list.check(ip, family);
}

function mailbox(address: string): [string, string] {
  const at = address.lastIndexOf('@');
  return [address.slice(0, at), address.slice(at + 1)];
}

/** Whether one of the leaf's names falls under one subtree base of the same kind (undefined: other kind). */
function matches(name: GeneralName, base: GeneralName): boolean | undefined {
  if (name.dNSName !== undefined && base.dNSName !== undefined) return domainMatches(name.dNSName, base.dNSName);
  if (name.iPAddress !== undefined && base.iPAddress !== undefined) return ipMatches(name.iPAddress, base.iPAddress);
  if (name.rfc822Name !== undefined && base.rfc822Name !== undefined) {
    const [local, domain] = mailbox(name.rfc822Name);
    if (!base.rfc822Name.includes('@')) return domainMatches(domain, base.rfc822Name);
    const [baseLocal, baseDomain] = mailbox(base.rfc822Name);
    return local === baseLocal && domain.toLowerCase() === baseDomain.toLowerCase();
  }
  if (name.uniformResourceIdentifier !== undefined && base.uniformResourceIdentifier !== undefined) {
    const host = goParseUrl(name.uniformResourceIdentifier).host.replace(/:\d*$/, '').replace(/^\[|\]$/g, '');
    // Go refuses URIs whose host is an IP address (or missing) under URI constraints.
    return host !== '' && isIP(host) === 0 && domainMatches(host, base.uniformResourceIdentifier);
  }
  return undefined;
}

/** Go's checkNameConstraints for every alternative name of the leaf against one CA's constraints. */
function namesAllowed(sans: GeneralName[], nc: NameConstraints): boolean {
  const permitted = [...(nc.permittedSubtrees ?? [])].map((s) => s.base);
  const excluded = [...(nc.excludedSubtrees ?? [])].map((s) => s.base);
  return sans.every((name) => {
    if (excluded.some((b) => matches(name, b) === true)) return false;
    const sameKind = permitted.map((b) => matches(name, b)).filter((m) => m !== undefined);
    return sameKind.length === 0 || sameKind.includes(true);
  });
}

/** Go's checkChainForKeyUsage: each certificate with an EKU list narrows the usages still acceptable. */
function keyUsageAllowed(chain: CertInfo[], wanted: number[]): boolean {
  if (wanted.includes(0)) return true;
  let remaining = wanted;
  for (const c of [...chain].reverse()) {
    const eku = (c.json.ExtKeyUsage as number[] | null) ?? [];
    if (eku.length === 0 && c.json.UnknownExtKeyUsage === null) continue;
    if (eku.includes(0)) continue;
    remaining = remaining.filter((u) => eku.includes(u));
    if (remaining.length === 0) return false;
  }
  return true;
}

/**
 * The chain from the last certificate (leaf) to the first (root), or undefined
 * when it does not verify. Candidate issuers are the given certificates.
 */
export function verifyChain(certs: CertInfo[], nowNs: number, opts: VerifyOptions = {}): CertInfo[] | undefined {
  if (certs.length < 2) return undefined;
  const x = certs.map((c) => new X509Certificate(c.der));
  const now = new Date((opts.currentNs ?? nowNs) / 1e6);
  const leafIdx = certs.length - 1;
  const chain = [leafIdx];
  while (chain[chain.length - 1] !== 0) {
    const cur = chain[chain.length - 1];
    const intermediates = chain.length - 1;
    const next = [...certs.keys()].find((i) => {
      if (chain.includes(i) && i !== 0) return false;
      const j = certs[i].json;
      if (!x[i].ca || !x[cur].checkIssued(x[i]) || !x[cur].verify(x[i].publicKey)) return false;
      // Go: a parent's MaxPathLen bounds the intermediates below it, leaf excluded.
      if ((j.MaxPathLen as number) >= 0 && j.BasicConstraintsValid === true && intermediates > (j.MaxPathLen as number)) return false;
      return !certs[i].constraints || namesAllowed(certs[leafIdx].sans, certs[i].constraints);
    });
    if (next === undefined) return undefined;
    chain.push(next);
  }
  if (!x[0].verify(x[0].publicKey)) return undefined;
  if (!chain.every((i) => new Date(x[i].validFrom) <= now && now <= new Date(x[i].validTo))) return undefined;
  const path = chain.map((i) => certs[i]);
  if (!keyUsageAllowed(path, opts.keyUsages && opts.keyUsages.length > 0 ? opts.keyUsages : [1])) return undefined;
  if (opts.dnsName !== undefined && opts.dnsName !== '') {
    const leaf = x[leafIdx];
    const ok = isIP(opts.dnsName) ? leaf.checkIP(opts.dnsName) !== undefined : leaf.checkHost(opts.dnsName, { subject: 'never' }) !== undefined;
    if (!ok) return undefined;
  }
  return path;
}
