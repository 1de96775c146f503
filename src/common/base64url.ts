/**
 * Canonical base64url (RFC 7515 §2: RFC 4648 §5 with no padding, no
 * whitespace, no other characters) for the three segments of a compact JWS.
 *
 * Decoders are lenient: `==` padding, spaces and tabs, and the unused low bits
 * of the last character are all ignored, so without this check one signed
 * token has many spellings, each with its own fingerprint and its own cache
 * entry. Only the spelling a conforming encoder writes is accepted, so a token
 * (and a bundle signature) has exactly one. Dependency-free, like the rest of
 * src/common.
 */

/** Value of a base64url character, -1 for anything outside the alphabet. */
function sextet(c: number): number {
  if (c >= 65 && c <= 90) return c - 65; // A-Z
  if (c >= 97 && c <= 122) return c - 71; // a-z
  if (c >= 48 && c <= 57) return c + 4; // 0-9
  if (c === 45) return 62; // -
  if (c === 95) return 63; // _
  return -1;
}

/**
 * Why `s` is not canonical base64url, as a phrase that completes "it …"; undefined when it is.
 * The empty string is canonical (it encodes no bytes).
 */
export function base64urlProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (sextet(c) >= 0) continue;
    if (c === 61) return 'has padding (=)';
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11) return 'contains whitespace';
    return 'has a character outside the base64url alphabet (A-Z a-z 0-9 - _)';
  }
  const rest = s.length % 4;
  if (rest === 1) return `has an impossible length (${s.length} characters: no byte string encodes to 4n+1)`;
  // 2 characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits): a canonical encoder writes them as zero.
  if (rest > 1 && (sextet(s.charCodeAt(s.length - 1)) & (rest === 2 ? 0x0f : 0x03)) !== 0) {
    return 'has unused bits set in its last character';
  }
  return undefined;
}

const SEGMENTS = ['header', 'payload', 'signature'] as const;

/**
 * Why the compact JWS `jws` is not three dot-separated segments of canonical
 * base64url, as a phrase that follows a possessive ("the token's …"), e.g.
 * "signature is not canonical base64url (RFC 7515): it has padding (=)";
 * undefined when it is canonical.
 */
export function compactJwsProblem(jws: string): string | undefined {
  const parts = jws.split('.');
  if (parts.length !== 3) return `segments are ${parts.length}, not 3 (a compact JWS is header.payload.signature)`;
  for (let i = 0; i < 3; i++) {
    const p = base64urlProblem(parts[i]);
    if (p) return `${SEGMENTS[i]} is not canonical base64url (RFC 7515): it ${p}`;
  }
  return undefined;
}
