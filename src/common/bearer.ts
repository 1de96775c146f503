/**
 * The credential of a bearer value as an MCP server forwards it: a leading
 * `Bearer ` (any case, RFC 6750 §2.1) is dropped and surrounding space trimmed,
 * so `Bearer eyJ…` and `eyJ…` name the same token. Dependency-free so the MCP
 * guard package can use it too.
 */
export function stripBearer(raw: string): string {
  return raw.replace(/^Bearer\s+/i, '').trim();
}
