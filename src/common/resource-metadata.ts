/**
 * Where RFC 9728 protected-resource metadata lives for a resource: the
 * well-known segment inserted between the resource's origin and its path
 * (RFC 9728 §3.1), e.g. `https://h/mcp` → `/.well-known/oauth-protected-resource/mcp`.
 * One derivation for the WWW-Authenticate challenges, the metadata routes and
 * the MCP guard; dependency-free so the guard package can import it.
 */
export const RESOURCE_METADATA_PREFIX = '/.well-known/oauth-protected-resource';

/** The metadata path (no origin) for `resource`; a trailing slash of the resource path is ignored. */
export function resourceMetadataPath(resource: string): string {
  const p = new URL(resource).pathname.replace(/\/$/, '');
  return `${RESOURCE_METADATA_PREFIX}${p}`;
}

/** The absolute metadata URL for `resource`, unless the configuration names one (`override`). */
export function resourceMetadataUrl(resource: string, override?: string): string {
  return override ? override : `${new URL(resource).origin}${resourceMetadataPath(resource)}`;
}
