/**
 * The parts of the policy's data the findings talk about, read defensively:
 * the reference policy's catalog (data.catalog: servers → tools with roles,
 * scopes and argument specs; scope_roles). A policy without that shape gets
 * the per-caller findings only.
 */

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/** An RFC 6901 JSON pointer from path segments. */
export function pointer(parts: string[]): string {
  return parts.map((p) => '/' + p.replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** One catalog tool. */
export interface CatalogTool {
  server: string;
  tool: string;
  roles: string[];
  scopes: string[];
}

/** One numeric argument limit: per role (`max_by_role`) or for everyone (`max`, role null). */
export interface ArgumentLimit {
  server: string;
  tool: string;
  argument: string;
  role: string | null;
  limit: number;
}

/** What the findings read from the catalog. */
export interface CatalogView {
  scopeRoles: Record<string, string[]>;
  tools: CatalogTool[];
  limits: ArgumentLimit[];
}

/** The catalog in the policy's data, or undefined when the data has none of the reference policy's shape. */
export function readCatalog(data: unknown): CatalogView | undefined {
  const catalog = isObject(data) ? data.catalog : undefined;
  if (!isObject(catalog) || !isObject(catalog.servers)) return undefined;
  const scopeRoles: Record<string, string[]> = {};
  if (isObject(catalog.scope_roles)) for (const [s, r] of Object.entries(catalog.scope_roles)) scopeRoles[s] = strings(r);
  const tools: CatalogTool[] = [];
  const limits: ArgumentLimit[] = [];
  for (const [server, srv] of Object.entries(catalog.servers)) {
    if (!isObject(srv) || !isObject(srv.tools)) continue;
    for (const [tool, t] of Object.entries(srv.tools)) {
      if (!isObject(t)) continue;
      tools.push({ server, tool, roles: strings(t.roles), scopes: strings(t.scopes) });
      if (!isObject(t.arguments)) continue;
      for (const [argument, spec] of Object.entries(t.arguments)) {
        if (!isObject(spec)) continue;
        if (typeof spec.max === 'number') limits.push({ server, tool, argument, role: null, limit: spec.max });
        if (isObject(spec.max_by_role)) {
          for (const [role, limit] of Object.entries(spec.max_by_role)) if (typeof limit === 'number') limits.push({ server, tool, argument, role, limit });
        }
      }
    }
  }
  return { scopeRoles, tools, limits };
}

/** The caller's roles as the reference policy computes them: the `roles` claim plus the roles its scopes map to. */
export function effectiveRoles(input: Record<string, unknown>, scopeRoles: Record<string, string[]>): Set<string> {
  const claims = isObject(input.claims) ? input.claims : {};
  const out = new Set(strings(claims.roles));
  for (const s of strings(input.scopes)) for (const r of scopeRoles[s] ?? []) out.add(r);
  return out;
}
