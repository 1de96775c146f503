/**
 * Claims that name the client, across issuers: `client_id` (RFC 9068), `azp`
 * (OpenID), `cid` (Okta), `appid` (Entra ID v1), in that order of preference.
 */
export const CLIENT_CLAIMS = ['client_id', 'azp', 'cid', 'appid'] as const;

/** `input.client` of the policy contract: the OAuth client a token was issued to. */
export interface ClientInput {
  /** From the first string among `client_id`, `azp`, `cid`, `appid` (as revocation reads it). */
  id: string;
  /**
   * The lower-cased host name when `id` is an `https` URL (a Client ID
   * Metadata Document), so a policy can allowlist every client a domain
   * publishes. Absent otherwise: an `http` URL or a plain id proves no domain.
   */
  host?: string;
}

/**
 * The one client derivation (policy input, decision log, `Caller`, console,
 * privileges): the first non-empty string among `client_id`, `azp`, `cid`,
 * `appid`. Values that are not strings are skipped, never converted.
 * Revocation checks every one of these claims, so a `client_id` revocation
 * of this id always matches the token.
 */
export function clientIdOf(claims: unknown): string | undefined {
  if (!claims || typeof claims !== 'object') return undefined;
  const c = claims as Record<string, unknown>;
  for (const name of CLIENT_CLAIMS) {
    const v = c[name];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** The client of a token's claims; undefined when the token names none. */
export function clientOf(claims: Record<string, unknown>): ClientInput | undefined {
  const id = clientIdOf(claims);
  if (id === undefined) return undefined;
  if (!/^https:\/\//i.test(id)) return { id };
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return { id };
  }
  // Userinfo would let "https://good.example@evil.example/" read as good.example to a careless eye; WHATWG URL gives the real host.
  return url.hostname ? { id, host: url.hostname.toLowerCase() } : { id };
}
