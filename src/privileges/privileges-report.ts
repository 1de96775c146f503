/**
 * The shape of a privileges report. `toolgate privileges --format json` prints
 * it as is, and `--report-dir` files it for the console: the shape is stable
 * (`kind: "privileges"`, `schema_version`), fields are only ever added.
 */
import type { NotReplayableReason } from '../replay/replay-inputs.js';

/** Scopes and roles, sorted. */
export interface PrivilegeSet {
  scopes: string[];
  roles: string[];
}

/** `findings` when the caller made at least `min_calls` allowed calls; otherwise nothing is called unused. */
export type EvidenceStatus = 'findings' | 'insufficient_evidence';

/** One client (`client_id`) or subject (`sub` at an issuer). */
export interface CallerFindings {
  /** The client id, or the subject's `sub`. */
  id: string;
  /** Subjects only: the issuer the `sub` is from. */
  issuer?: string;
  status: EvidenceStatus;
  /** Seen in the caller's verified tokens in the period. */
  held: PrivilegeSet;
  /** Needed by at least one allowed evaluation (removing it turned the allow into a deny). */
  needed: PrivilegeSet;
  /** Held and needed by none; empty when the status is insufficient_evidence. */
  unused: PrivilegeSet;
  /**
   * Whether the unused items can all go at once: false when taking them away
   * together denies an allowed evaluation (grants that each suffice alone, e.g.
   * a role claimed and implied by a scope); null when nothing is unused.
   */
  unused_together: boolean | null;
  /** Allowed calls examined (tool calls, resource reads, prompts, completions; list items are counted apart). */
  calls: number;
  evidence: {
    /** Allowed list items examined (seeing a tool in a list can need a scope too). */
    list_items: number;
    /** Recorded denies (not examined: a deny needs nothing). */
    denied: number;
    /** Evaluations whose input had been masked: the policy saw the masked values. */
    masked: number;
    /** Recorded allows the policy, replayed, now denies: not examined. */
    drift: number;
    first_seen: string | null;
    last_seen: string | null;
    /** When unused_together is false: a decision that taking them all away would deny. */
    together_sample: string | null;
  };
}

/** A catalog tool someone in the period could use (held one of its roles) but no allowed call used. */
export interface UnusedTool {
  server: string;
  tool: string;
  roles: string[];
  scopes: string[];
  /** Subjects whose roles (claimed or from scopes) include one the tool lists. */
  holders: number;
  /** Allowed list items showing it: it was seen, not called. */
  listed: number;
}

/** One argument limit and the recorded values under it. */
export interface LimitFinding {
  server: string;
  tool: string;
  argument: string;
  /** The role whose limit applied (the highest among the caller's roles); null for a plain `max`. */
  role: string | null;
  limit: number;
  /** Allowed calls the limit applied to. */
  calls: number;
  max_seen: number | null;
  /** `headroom`: no recorded value came within 10% of the limit; `used`: one did. */
  status: 'headroom' | 'used' | 'insufficient_evidence';
}

/** One proposed data change: RFC 6902 operations on the policy's data, and why. */
export interface SuggestedChange {
  why: string;
  ops: { op: 'test' | 'remove' | 'replace'; path: string; value?: unknown }[];
}

/** Evidence over the whole period. */
export interface PeriodEvidence {
  events: number;
  /** Lines that were not decision events. Events a sink dropped never reach the log (see the decision-log metrics). */
  unreadable: number;
  filtered_out: number;
  not_replayable: number;
  not_replayable_by_reason: Partial<Record<NotReplayableReason, number>>;
  masked: number;
  drift: number;
  allowed_calls: number;
  allowed_list_items: number;
  denied: number;
  /** Evaluations with a verified token but no client id: in `subjects`, not in `clients`. */
  without_client_id: number;
  /** Distinct inputs, and policy evaluations run in every pass (identical inputs are evaluated once). */
  distinct_inputs: number;
  evaluations: number;
  /** True when the policy provably ignores the time, so inputs differing only in time counted as one. */
  time_ignored: boolean;
}

/** A privileges report. */
export interface PrivilegesReport {
  kind: 'privileges';
  schema_version: 1;
  generated_at: string;
  policy: { location: string; revision: string; content_hash: string };
  source: { kind: 'files' | 'postgres'; location: string[] };
  period: { since: string | null; until: string | null; first_event: string | null; last_event: string | null };
  min_calls: number;
  evidence: PeriodEvidence;
  clients: CallerFindings[];
  subjects: CallerFindings[];
  /** Null when the policy data has no catalog of the reference policy's shape. */
  unused_tools: UnusedTool[] | null;
  limits: LimitFinding[] | null;
  /** The suggested data changes, each replayed over the period with zero allow→deny flips. */
  suggestion: {
    file: string | null;
    changes: SuggestedChange[];
    /** Changes proposed but withdrawn because replaying them denied an allowed evaluation. */
    withdrawn: { why: string; flips: number }[];
  } | null;
  elapsed_ms: number;
}
