/**
 * The answers of toolgate's decision API. Declared without any Nest or
 * engine import: the MCP guard's public types (`toolgate/mcp`) are these,
 * and a server compiling against them should not load Nest's declarations.
 */

/** What `POST /v1/decisions` answers. */
export interface DecisionResult {
  decision_id: string;
  allow: boolean;
  reasons: string[];
  revision: string | null;
  code?: string;
  http_status?: number;
  www_authenticate?: string;
}

/** What `POST /v1/decisions/tools` answers. */
export interface ToolsResult {
  decision_id: string;
  allowed: string[];
  revision: string | null;
  code?: string;
  http_status?: number;
  www_authenticate?: string;
  reasons?: string[];
}
