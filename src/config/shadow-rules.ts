import { insecureUrlReason } from '../common/secure-fetch.js';
import type { ToolgateConfig } from './config.schema.js';

/**
 * Cross-field rules of `policy.shadow`: the candidate's source must be as
 * trustworthy as the active one's (a bundle URL is https, or http to loopback,
 * and signed unless allow_unsigned says otherwise), since it sees live inputs.
 */
export function shadowErrors(c: ToolgateConfig): string[] {
  const s = c.policy.shadow;
  if (!s) return [];
  const errs: string[] = [];
  if (s.mode === 'source' && !s.source) errs.push('policy.shadow.source: required when policy.shadow.mode is source');
  if (s.mode === 'bundle') {
    const b = s.bundle;
    if (!b) errs.push('policy.shadow.bundle: required when policy.shadow.mode is bundle');
    else if (!!b.path === !!b.url) errs.push('policy.shadow.bundle.path: set exactly one of policy.shadow.bundle.path or policy.shadow.bundle.url');
    if (b?.url) {
      const why = insecureUrlReason(b.url);
      if (why) errs.push(`policy.shadow.bundle.url: ${why}`);
      if (!b.signing && !c.policy.bundle?.signing && !b.allow_unsigned) {
        errs.push('policy.shadow.bundle.signing: required for policy.shadow.bundle.url (or policy.bundle.signing; allow_unsigned: true opts out)');
      }
    }
    b?.signing?.keys.forEach((k, i) => {
      if (!!k.key === !!k.key_file) errs.push(`policy.shadow.bundle.signing.keys[${i}].key: set exactly one of key or key_file`);
    });
  }
  return errs;
}

/** Resolves the shadow source's relative paths like the active source's. */
export function resolveShadowPaths(config: ToolgateConfig, abs: (p: string) => string): void {
  const s = config.policy.shadow;
  if (!s) return;
  if (s.source) {
    s.source.policies = abs(s.source.policies);
    s.source.tests = abs(s.source.tests);
    s.source.out = abs(s.source.out);
  }
  if (s.bundle?.path) s.bundle.path = abs(s.bundle.path);
  for (const k of s.bundle?.signing?.keys ?? []) if (k.key_file) k.key_file = abs(k.key_file);
}
