/** Shapes of toolgate's admin read API as the console uses them (see CONSOLE-API.md). */

/** GET /console/config.json */
export interface ConsoleConfig {
  admin_audience: string;
  api_base: string;
  oauth: { issuer: string; client_id: string; scopes: string[] | string; resource?: string } | null;
}

/** GET /v1/admin/whoami */
export interface WhoAmI {
  sub: string;
  client_id?: string;
  scopes: string[];
  can_admin: boolean;
}

/** One bucket of the decision-rate series. */
export interface RateBucket {
  t: number | string;
  allow: number;
  deny: Record<string, number>;
}

/** A problem of a failed activation, with its place when known. */
export interface Problem {
  file?: string;
  line?: number;
  row?: number;
  col?: number;
  message?: string;
  code?: string;
}

/** Where a revision came from: `{kind, location}` (older answers: a plain string). */
export type RevisionSource = string | { kind?: string; location?: string };

/** GET /v1/admin/overview */
export interface Overview {
  revision: { label?: string; revision?: string; content_hash?: string; loaded_at?: string; source?: RevisionSource } | null;
  last_failure: { at?: string; step?: string; code?: string; message?: string; problems?: (Problem | string)[]; source?: RevisionSource } | null;
  warnings?: string[];
  rates: { source?: string | null; bucket_s: number; window_s?: number; buckets: RateBucket[] };
  token_cache: Record<string, unknown> | null;
  jwks: Record<string, unknown>[];
  shadow?: Record<string, unknown> | null;
}

/** A row of GET /v1/admin/decisions */
export interface DecisionRow {
  decision_id: string;
  at: string;
  kind?: string;
  server?: string | null;
  tool?: string | null;
  action?: string | null;
  result: string;
  code?: string | null;
  subject?: string | null;
  client_id?: string | null;
  revision?: string | null;
  content_hash?: string | null;
  duration_ms?: number | null;
  shadow?: string | null;
}

/** GET /v1/admin/decisions: one page, newest first; `next_before` fetches the next (older) page. */
export interface DecisionPage {
  source: string;
  decisions: DecisionRow[];
  next_before?: string;
  scanned?: number;
  truncated?: boolean;
}

/** GET /v1/admin/decisions/:id */
export interface DecisionDetail {
  event: Record<string, unknown>;
  shadow: Record<string, unknown> | null;
}

/** One activated revision in /v1/admin/revisions. */
export interface Revision {
  revision: string;
  content_hash: string;
  loaded_at?: string;
  source?: RevisionSource;
  has_sources?: boolean;
}

/** GET /v1/admin/revisions: `active` is the active content hash. */
export interface RevisionList {
  active: string | Revision | null;
  revisions: Revision[];
}

/** One file of a revision's bundle (GET /v1/admin/revisions/:hash/sources). */
export interface SourceFile {
  path: string;
  content: string;
}

/** One changed file between two revisions (GET /v1/admin/revisions/diff). */
export interface DiffFile {
  path: string;
  status: string;
  /** Null when the file was too large to diff within the server's bounds. */
  patch: string | null;
  too_large_to_diff?: boolean;
}

/** GET /v1/revocations entries (DELETE /v1/revocations/:id removes one). */
export interface Revocation {
  id: string;
  kind: 'jti' | 'sub' | 'client_id';
  value: string;
  /** Epoch seconds. */
  issued_before?: number;
  issuer?: string;
  reason?: string;
  created_at: string;
}
