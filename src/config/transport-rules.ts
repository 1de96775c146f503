import { insecureUrlReason } from '../common/secure-fetch.js';
import type { ToolgateConfig } from './config.schema.js';

/**
 * Where policy and keys may come from: https, or http to loopback only; a
 * bundle URL needs `signing` unless `allow_unsigned` says otherwise. Each
 * message names its key, like every other configuration problem.
 */
export function transportErrors(c: ToolgateConfig): string[] {
  const errs: string[] = [];
  const b = c.policy.bundle;
  if (b?.url) {
    const why = insecureUrlReason(b.url);
    if (why) errs.push(`policy.bundle.url: ${why}`);
    if (!b.signing && !b.allow_unsigned) {
      errs.push('policy.bundle.signing: required for policy.bundle.url (unsigned bundles from the network are refused; policy.bundle.allow_unsigned: true opts out, loudly)');
    }
  }
  if (b?.signing && b.allow_unsigned) errs.push('policy.bundle.allow_unsigned: cannot be combined with policy.bundle.signing');
  c.issuers.forEach((iss, i) => {
    if (iss.jwks_uri) {
      const why = insecureUrlReason(iss.jwks_uri);
      if (why) errs.push(`issuers[${i}].jwks_uri: ${why}`);
    }
    if (iss.discovery) {
      // Discovery fetches the metadata from the issuer URL itself.
      const why = insecureUrlReason(iss.issuer);
      if (why) errs.push(`issuers[${i}].issuer: discovery fetches from the issuer URL, and ${why}`);
    }
  });
  return errs;
}
