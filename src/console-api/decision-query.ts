import { BadRequestError } from '../common/errors.js';
import { subjectFingerprint } from '../audit/postgres-sink.js';
import type { DecisionEvent } from '../audit/decision-event.js';
import { clientIdOf } from '../token/client-id.js';

/** One row of `GET /v1/admin/decisions`: what the list shows, never a token. */
export interface DecisionSummary {
  decision_id: string;
  at: string;
  kind: string;
  server: string | null;
  tool: string | null;
  action: string | null;
  result: 'allow' | 'deny';
  code: string | null;
  /** Subject fingerprint: first 24 hex of SHA-256(issuer \n sub), as the PostgreSQL store indexes it. */
  subject: string | null;
  /** The token's own fingerprint as the event records it. */
  token_fingerprint: string | null;
  client_id: string | null;
  revision: string | null;
  content_hash: string | null;
  duration_ms: number | null;
  shadow: string | null;
}

/** Validated filters of a decision search. */
export interface DecisionFilter {
  since?: number;
  until?: number;
  server?: string;
  tool?: string;
  subject?: string;
  code?: string;
  revision?: string;
  result?: 'allow' | 'deny';
  limit: number;
  before?: { at: number; id: string };
}

export const MAX_LIMIT = 200;
const DEFAULT_LIMIT = 50;
const KNOWN = new Set(['since', 'until', 'server', 'tool', 'subject', 'code', 'revision', 'result', 'limit', 'before']);

function bad(message: string): never {
  throw new BadRequestError('invalid_request', message);
}

/** ISO 8601 or epoch seconds, to epoch milliseconds. */
function parseTime(name: string, v: string): number {
  const ms = /^\d{1,12}(\.\d+)?$/.test(v) ? Number(v) * 1000 : /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) bad(`${name}: expected an ISO 8601 time or epoch seconds, got ${JSON.stringify(v.slice(0, 64))}`);
  return ms;
}

function text(name: string, v: string): string {
  if (v.length === 0 || v.length > 512) bad(`${name}: expected 1-512 characters`);
  return v;
}

/** The opaque paging cursor: the last row's time and id. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

function decodeCursor(v: string): { at: number; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(v, 'base64url').toString('utf8')) as unknown[];
    const ms = typeof at === 'string' ? Date.parse(at) : NaN;
    if (Number.isFinite(ms) && typeof id === 'string' && id.length <= 64) return { at: ms, id };
  } catch {
    // falls through to the 400
  }
  bad('before: not a cursor this API returned (next_before)');
}

/** Parses the query string of a decision search; anything unknown or malformed is a 400. */
export function parseDecisionFilter(q: Record<string, unknown>): DecisionFilter {
  const f: DecisionFilter = { limit: DEFAULT_LIMIT };
  for (const [k, raw] of Object.entries(q)) {
    if (!KNOWN.has(k)) bad(`unknown filter ${JSON.stringify(k.slice(0, 64))}; known: ${[...KNOWN].join(', ')}`);
    if (typeof raw !== 'string') bad(`${k}: give it once`);
    switch (k) {
      case 'since':
      case 'until':
        f[k] = parseTime(k, raw);
        break;
      case 'result':
        if (raw !== 'allow' && raw !== 'deny') bad('result: expected allow or deny');
        f.result = raw;
        break;
      case 'limit': {
        const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
        if (!(n >= 1 && n <= MAX_LIMIT)) bad(`limit: expected an integer from 1 to ${MAX_LIMIT}`);
        f.limit = n;
        break;
      }
      case 'before':
        f.before = decodeCursor(raw);
        break;
      default:
        f[k as 'server' | 'tool' | 'subject' | 'code' | 'revision'] = text(k, raw);
    }
  }
  if (f.since !== undefined && f.until !== undefined && f.since > f.until) bad('since: must not be after until');
  return f;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** The list row of one recorded event. */
export function summarize(e: DecisionEvent): DecisionSummary {
  const input = (e.input ?? {}) as { server?: unknown; action?: unknown; tool?: { name?: unknown } };
  const ns = e.metrics?.timer_server_handler_ns ?? e.metrics?.timer_token_verify_ns;
  return {
    decision_id: e.decision_id,
    at: e.timestamp,
    kind: e.kind,
    server: str(input.server),
    tool: str(input.tool?.name),
    action: str(input.action),
    result: e.outcome?.allow ? 'allow' : 'deny',
    code: e.outcome?.code ?? null,
    subject: subjectFingerprint(e.token?.issuer, e.token?.subject),
    token_fingerprint: e.token?.fingerprint ?? null,
    // Events logged before the log used clientIdOf named only client_id or azp: the claims the policy saw still name the client.
    client_id: e.token?.client_id || clientIdOf((e.input as { claims?: unknown } | undefined)?.claims) || null,
    revision: e.revision ?? null,
    content_hash: e.bundles?.toolgate?.content_hash ?? null,
    duration_ms: typeof ns === 'number' ? Math.round(ns / 1000) / 1000 : null,
    shadow: e.shadow?.result ?? null,
  };
}

/** Whether a row passes the filter (the file source filters in memory; PostgreSQL in SQL with the same meaning). */
export function matches(s: DecisionSummary, f: DecisionFilter, rawSubject: string | undefined, t = Date.parse(s.at)): boolean {
  if (f.since !== undefined && !(t >= f.since)) return false;
  if (f.until !== undefined && !(t <= f.until)) return false;
  if (f.server !== undefined && s.server !== f.server) return false;
  if (f.tool !== undefined && s.tool !== f.tool) return false;
  if (f.code !== undefined && s.code !== f.code) return false;
  if (f.result !== undefined && s.result !== f.result) return false;
  // One field per filter, chosen by the value's shape, as the PostgreSQL source does (decisionWhere).
  if (f.revision !== undefined && (f.revision.startsWith('sha256:') ? s.content_hash : s.revision) !== f.revision) return false;
  if (f.subject !== undefined) {
    const field = /^[0-9a-f]{24}$/.test(f.subject) ? s.subject : /^[0-9a-f]{12}$/.test(f.subject) ? s.token_fingerprint : rawSubject;
    if (field !== f.subject) return false;
  }
  if (f.before && !(t < f.before.at || (t === f.before.at && s.decision_id < f.before.id))) return false;
  return true;
}

/** Newest first; ties broken by id so paging is stable. */
export function newestFirst(a: DecisionSummary, b: DecisionSummary): number {
  return Date.parse(b.at) - Date.parse(a.at) || (a.decision_id < b.decision_id ? 1 : a.decision_id > b.decision_id ? -1 : 0);
}
