/**
 * One decision-log event. Field names follow OPA's decision logs where they
 * apply (decision_id, timestamp, path, input, result, bundles, labels,
 * requested_by, metrics, erased, masked); `token` and `outcome` are
 * toolgate's. The raw token is never part of an event.
 */
export interface DecisionEvent {
  decision_id: string;
  timestamp: string;
  /** The entrypoint evaluated; `mcp/authz/decision` for calls and for each tool of a list. */
  path: string;
  /**
   * Endpoint that produced the event: `decision` (/v1/decisions), `tools`
   * (/v1/decisions/tools), `list` (/v1/decisions/list), `authenticate`
   * (/v1/decisions/authenticate; refusals only).
   */
  kind: 'decision' | 'tools' | 'list' | 'authenticate';
  /**
   * The policy input (after masking). When the token was rejected there are no
   * claims or scopes: the rest (server, action, tool, time) is what was asked.
   */
  input?: Record<string, unknown>;
  /** The policy's answer (after masking); absent when no policy ran. */
  result?: unknown;
  outcome: { allow: boolean; code?: string; http_status?: number; allowed?: string[] };
  revision: string | null;
  /** `content_hash` identifies the policy that decided; `revision` is only its label. */
  bundles: { toolgate: { revision: string | null; content_hash?: string } };
  labels: Record<string, string>;
  requested_by: string;
  /** `asserted: true` when a trusted gateway sent the claims instead of the token (`requested_by` names it). */
  token: { fingerprint?: string; issuer?: string; subject?: string; client_id?: string; jti?: string; cached?: boolean; asserted?: boolean };
  metrics: Record<string, number>;
  erased?: string[];
  masked?: string[];
  /** How the shadow candidate (policy.shadow) would have answered, when this decision was sampled. */
  shadow?: ShadowRecord;
}

/** The shadow candidate's answer to one decision; `result` compares it with the answer given. */
export interface ShadowRecord {
  revision: string;
  content_hash: string;
  allow: boolean;
  code?: string;
  result: 'same' | 'allow_to_deny' | 'deny_to_allow' | 'error';
}
