import type { DecisionEvent } from '../audit/decision-event.js';

/** Why a recorded event cannot be evaluated again. */
export type NotReplayableReason = 'erased' | 'token_failure' | 'no_policy_ran' | 'list_without_item_inputs' | 'malformed';

/** One recorded evaluation, ready to run again. */
export interface RecordedEvaluation {
  decisionId: string;
  input: Record<string, unknown>;
  /** The event's clock: `time.now_ns` during the replay (input.time is recorded in `input`). */
  nowNs: number;
  /** What was answered; `code` is undefined for list items, whose per-item codes are not logged. */
  recorded: { allow: boolean; code?: string };
  /** Whether the recorded code can be compared (calls yes, list items no). */
  hasCode: boolean;
  server: string;
  /** The tool, resource or prompt the evaluation was about. */
  subject: string;
  masked: boolean;
}

/** An event turned into evaluations, or the reason it cannot be. */
export type ReplayInputs = { ok: true; evaluations: RecordedEvaluation[] } | { ok: false; reason: NotReplayableReason };

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function subjectName(input: Record<string, unknown>): string {
  for (const [k, f] of [['tool', 'name'], ['resource', 'uri'], ['prompt', 'name'], ['completion', 'ref']] as const) {
    const o = input[k];
    if (isObject(o)) {
      const v = o[f];
      return typeof v === 'string' ? v : isObject(v) ? String((v as { name?: unknown; uri?: unknown }).name ?? (v as { uri?: unknown }).uri ?? k) : k;
    }
  }
  return '(none)';
}

/**
 * What replay can take from one event. A call is one evaluation of exactly
 * the logged input; a list event is one evaluation per item, each item's
 * subject merged into the shared fields as the service did. Events the policy
 * never saw (token failures, refused authentications) and events whose input
 * was erased have nothing to evaluate. Masked events are replayed but flagged:
 * the policy then sees the masked values, not the originals.
 */
export function replayInputs(e: DecisionEvent): ReplayInputs {
  if (e.kind === 'authenticate') return { ok: false, reason: 'no_policy_ran' };
  const input = e.input;
  if (!isObject(input)) return { ok: false, reason: 'erased' };
  if (!('claims' in input)) return { ok: false, reason: 'token_failure' };
  const t = Date.parse(e.timestamp);
  if (!Number.isFinite(t) || !isObject(e.outcome)) return { ok: false, reason: 'malformed' };
  const nowNs = t * 1e6;
  const masked = (e.masked?.length ?? 0) > 0 || (e.erased?.length ?? 0) > 0;
  const server = typeof input.server === 'string' ? input.server : '(none)';
  if (e.kind === 'decision') {
    return {
      ok: true,
      evaluations: [
        { decisionId: e.decision_id, input, nowNs, recorded: { allow: e.outcome.allow === true, code: e.outcome.code }, hasCode: true, server, subject: subjectName(input), masked },
      ],
    };
  }
  // tools / list: each item's subject as evaluated; events written before items were logged cannot be replayed exactly.
  const { items, ...shared } = input;
  if (!Array.isArray(items) || !items.every(isObject)) return { ok: false, reason: 'list_without_item_inputs' };
  const allowed = new Set(e.outcome.allowed ?? []);
  return {
    ok: true,
    evaluations: (items as Record<string, unknown>[]).map((item) => {
      const one = { ...shared, ...item };
      const subject = subjectName(one);
      return { decisionId: e.decision_id, input: one, nowNs, recorded: { allow: allowed.has(subject) }, hasCode: false, server, subject, masked };
    }),
  };
}
