/**
 * The one translation from what the policy answered to what toolgate answers
 * (allow, reasons, code). The decision service, the replay command and shadow
 * evaluation all use it, so a code on replay means what it meant live.
 */

import { readPolicyAnswer, type PolicyAnswer } from '../contract/policy-contract.js';

/** The outcome of one evaluation as toolgate answers it, without the HTTP parts. */
export interface EvaluationOutcome {
  allow: boolean;
  /** Undefined for an allow; `insufficient_scope`, `policy_denied` or `policy_error` otherwise. */
  code?: string;
  reasons: string[];
  requiredScopes: string[];
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
    const a = readPolicyAnswer(evaluate());
    return { allow: a.allow, code: denyCode(a), reasons: a.reasons, requiredScopes: a.requiredScopes };
  } catch {
    return { allow: false, code: 'policy_error', reasons: POLICY_ERROR_REASONS, requiredScopes: [] };
  }
}
