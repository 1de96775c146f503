/**
 * The two pieces of HTTP authentication every MCP server shares with
 * toolgate, as the guard uses them: reading the bearer token of an
 * `Authorization` header, and where RFC 9728 puts a resource's metadata.
 * The derivations themselves live once in src/common (dependency-free, so the
 * light `toolgate/mcp` entry stays light); this module only adapts them.
 */
import { stripBearer } from '../common/bearer.js';

const BEARER = /^Bearer\s+/i;

/**
 * The token of an `Authorization: Bearer <token>` header (scheme matched
 * case-insensitively, RFC 9110 §11.1); '' when there is none or the scheme
 * is another. An empty token is toolgate's `token_missing`, so the guard
 * never has to tell "absent" from "not bearer" itself.
 */
export function bearerToken(header: string | undefined): string {
  return header && BEARER.test(header) ? stripBearer(header) : '';
}

/** Where RFC 9728 §3.1 puts a resource's metadata: the path (e.g. `/.well-known/oauth-protected-resource/mcp`) and the absolute URL. */
export { resourceMetadataPath as protectedResourceMetadataPath, resourceMetadataUrl as protectedResourceMetadataUrl } from '../common/resource-metadata.js';
