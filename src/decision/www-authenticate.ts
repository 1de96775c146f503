import { resourceMetadataUrl } from '../common/resource-metadata.js';
import type { ServerConfig } from '../config/config.schema.js';

/** The RFC 9728 metadata URL a challenge points to for `server`. */
function metadataUrl(server: ServerConfig): string {
  return resourceMetadataUrl(server.resource, server.resource_metadata_url);
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
      ? [`resource_metadata=${quote(metadataUrl(server))}`]
      : [
          'error="invalid_token"',
          `error_description=${quote(description)}`,
          `resource_metadata=${quote(metadataUrl(server))}`,
        ];
  return `Bearer ${params.join(', ')}`;
}

/** Step-up challenge: every scope the operation needs, never offline_access. */
export function insufficientScopeChallenge(server: ServerConfig, scopes: string[]): string {
  const scope = scopes.filter((s) => s !== 'offline_access').join(' ');
  return `Bearer error="insufficient_scope", scope=${quote(scope)}, resource_metadata=${quote(metadataUrl(server))}`;
}
