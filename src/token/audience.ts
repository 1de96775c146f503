/**
 * Audience matching for the MCP authorization spec's canonical server URIs.
 *
 * The spec asks servers to accept an upper-case scheme and host in a token's
 * `aud` (scheme and host are case-insensitive, RFC 3986 §6.2.2.1). Nothing
 * looser is accepted: the path, query and fragment compare exactly, so a
 * trailing-slash variant, a prefix, a fragment or a different default-port
 * spelling is a different audience. A URI with userinfo compares exactly.
 */

/** Splits `scheme://authority` from the rest; undefined when the URI has no authority. */
function splitAuthority(uri: string): { head: string; rest: string } | undefined {
  const sep = uri.indexOf('://');
  if (sep <= 0) return undefined;
  const start = sep + 3;
  let end = uri.length;
  for (const c of ['/', '?', '#']) {
    const i = uri.indexOf(c, start);
    if (i !== -1 && i < end) end = i;
  }
  const head = uri.slice(0, end);
  // Userinfo is case-sensitive; lower-casing it would accept another identity.
  if (head.includes('@')) return undefined;
  return { head, rest: uri.slice(end) };
}

/** Whether one `aud` value names `resource`: exact, or equal once scheme and host are lower-cased. */
export function audienceNames(aud: string, resource: string): boolean {
  if (aud === resource) return true;
  const a = splitAuthority(aud);
  const r = splitAuthority(resource);
  if (!a || !r) return false;
  return a.rest === r.rest && a.head.toLowerCase() === r.head.toLowerCase();
}

/** The `aud` values (string or array, as in a JWT) that name `resource`. */
export function matchingAudiences(aud: unknown, resource: string): string[] {
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  return values.filter((v): v is string => typeof v === 'string' && audienceNames(v, resource));
}
