/**
 * The one translation from what the policy answered to what toolgate answers
 * (allow, reasons, code). The decision service, the replay command and shadow
 * evaluation all use it, so a code on replay means what it meant live.
 */

/** A well-formed policy answer (README, "Policy contract"). */
export interface PolicyAnswer {
  allow: boolean;
  reasons: string[];
  requiredScopes: string[];
}

/** The policy answered something that is not a decision: the caller turns it into a deny (`policy_error`). */
export class PolicyAnswerError extends Error {}

/** The outcome of one evaluation as toolgate answers it, without the HTTP parts. */
export interface EvaluationOutcome {
  allow: boolean;
  /** Undefined for an allow; `insufficient_scope`, `policy_denied` or `policy_error` otherwise. */
  code?: string;
  reasons: string[];
  requiredScopes: string[];
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** Checks the shape of a policy answer; throws PolicyAnswerError for anything but `{allow: boolean, reasons?, required_scopes?}`. */
export function checkAnswer(out: unknown): PolicyAnswer {
  const o = out as { allow?: unknown; reasons?: unknown; required_scopes?: unknown } | undefined;
  if (!o || typeof o !== 'object' || typeof o.allow !== 'boolean') {
    throw new PolicyAnswerError('the policy answer has no boolean "allow"');
  }
  const reasons = o.reasons === undefined ? [] : o.reasons;
  const requiredScopes = o.required_scopes === undefined ? [] : o.required_scopes;
  if (!isStringArray(reasons) || !isStringArray(requiredScopes)) {
    throw new PolicyAnswerError('the policy answer\'s "reasons" and "required_scopes" must be arrays of strings');
  }
  return { allow: o.allow === true, reasons, requiredScopes };
}

/** The deny code of a well-formed answer: a deny naming scopes asks for step-up. */
export function denyCode(a: PolicyAnswer): 'insufficient_scope' | 'policy_denied' | undefined {
  if (a.allow) return undefined;
  return a.requiredScopes.length > 0 ? 'insufficient_scope' : 'policy_denied';
}

/** The reasons a failed evaluation answers with (fail closed). */
export const POLICY_ERROR_REASONS = ['the policy could not be evaluated; denied'];

/**
 * Evaluates through `evaluate` and maps the answer as the decision route
 * does: a malformed answer or any throw is a deny with code `policy_error`.
 */
export function evaluationOutcome(evaluate: () => unknown): EvaluationOutcome {
  try {
    const a = checkAnswer(evaluate());
    return { allow: a.allow, code: denyCode(a), reasons: a.reasons, requiredScopes: a.requiredScopes };
  } catch {
    return { allow: false, code: 'policy_error', reasons: POLICY_ERROR_REASONS, requiredScopes: [] };
  }
}
