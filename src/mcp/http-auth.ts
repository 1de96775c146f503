/**
 * The two pieces of HTTP authentication every MCP server shares with
 * toolgate, in one place for the guard: reading the bearer token of an
 * `Authorization` header, and where RFC 9728 puts a resource's metadata.
 * No Nest and no SDK imports, so the light `toolgate/mcp` entry stays light.
 */

const BEARER = /^Bearer\s+/i;

/**
 * The token of an `Authorization: Bearer <token>` header (scheme matched
 * case-insensitively, RFC 9110 §11.1); '' when there is none or the scheme
 * is another. An empty token is toolgate's `token_missing`, so the guard
 * never has to tell "absent" from "not bearer" itself.
 */
export function bearerToken(header: string | undefined): string {
  return header && BEARER.test(header) ? header.replace(BEARER, '').trim() : '';
}

/**
 * The path of a resource's protected resource metadata (RFC 9728 §3.1): the
 * well-known segment goes between the host and the resource's path, and a
 * trailing slash of the path is dropped ("https://a.example/mcp" →
 * "/.well-known/oauth-protected-resource/mcp").
 */
export function protectedResourceMetadataPath(resource: string): string {
  const p = new URL(resource).pathname.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${p === '/' ? '' : p}`;
}

/** The absolute URL of a resource's protected resource metadata (RFC 9728 §3.1). */
export function protectedResourceMetadataUrl(resource: string): string {
  return new URL(protectedResourceMetadataPath(resource), resource).href;
}
