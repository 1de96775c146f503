import { CLIENT_CLAIMS } from './revocation.service.js';

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

/** The client of a token's claims; undefined when the token names none. */
export function clientOf(claims: Record<string, unknown>): ClientInput | undefined {
  const id = CLIENT_CLAIMS.map((c) => claims[c]).find((v): v is string => typeof v === 'string' && v !== '');
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
