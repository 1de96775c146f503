import type { ServerConfig } from '../config/config.schema.js';

/**
 * The RFC 9728 metadata URL for a protected resource: the well-known segment
 * inserted between the resource's origin and its path (RFC 9728 §3.1).
 */
export function resourceMetadataUrl(server: ServerConfig): string {
  if (server.resource_metadata_url) return server.resource_metadata_url;
  const u = new URL(server.resource);
  const p = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `${u.origin}/.well-known/oauth-protected-resource${p}`;
}

function quote(v: string): string {
  // RFC 9110 quoted-string: escape backslash and quote; drop controls.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\x00-\x1f\x7f]/g, ' ')}"`;
}

/** `Bearer` challenge for a rejected token (RFC 6750 §3; no error code when no token was sent). */
export function invalidTokenChallenge(server: ServerConfig, code: string, description: string): string {
  const params =
    code === 'token_missing'
      ? [`resource_metadata=${quote(resourceMetadataUrl(server))}`]
      : [
          'error="invalid_token"',
          `error_description=${quote(description)}`,
          `resource_metadata=${quote(resourceMetadataUrl(server))}`,
        ];
  return `Bearer ${params.join(', ')}`;
}

/** Step-up challenge: every scope the operation needs, never offline_access. */
export function insufficientScopeChallenge(server: ServerConfig, scopes: string[]): string {
  const scope = scopes.filter((s) => s !== 'offline_access').join(' ');
  return `Bearer error="insufficient_scope", scope=${quote(scope)}, resource_metadata=${quote(resourceMetadataUrl(server))}`;
}
