/**
 * The policy contract (README, "Policy contract"): what toolgate asks a policy
 * and what it accepts as an answer. The compiler checks that a bundle exports
 * the entrypoint; the decision service builds the input and reads the answer.
 * Both import it from here, so neither owns it.
 */
import { ToolgateError } from '../common/errors.js';

/** The entrypoint every toolgate policy must export. */
export const DECISION_ENTRYPOINT = 'mcp/authz/decision';

/**
 * The optional list rule a policy may export for speed: with the input of a
 * list (action "list", `kind`, and `items`, one subject object per listed
 * item), an array with one answer per item, in order, each shaped like a
 * decision answer. Item i's `allow` must be what `decision` answers for the
 * input with `items` removed and item i's subject merged in.
 */
export const LIST_ENTRYPOINT = 'mcp/authz/decisions';

/**
 * The list rule toolgate adds to every bundle it builds (policy-compiler/
 * list-wrapper.ts): each item through `decision`, in one evaluation. Used
 * when the policy does not export LIST_ENTRYPOINT.
 */
export const LIST_WRAPPER_ENTRYPOINT = 'toolgate/wrapper/decisions';

/** What a decision is about (`input.action`). */
export type DecisionAction = 'call' | 'list' | 'read_resource' | 'get_prompt' | 'complete';

/** What a list filter is about (`input.kind` with action "list"). */
export type ListKind = 'tool' | 'resource' | 'prompt';

export const DECISION_ACTIONS: readonly DecisionAction[] = ['call', 'list', 'read_resource', 'get_prompt', 'complete'];
export const LIST_KINDS: readonly ListKind[] = ['tool', 'resource', 'prompt'];

/** `input.tool`: the tool of a `call`, or of a `list` with kind "tool". */
export interface ToolSubject {
  name: string;
  arguments: Record<string, unknown>;
  annotations: Record<string, unknown>;
}

/** `input.completion`: what is completed and the argument typed so far. */
export interface CompletionSubject {
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument: { name: string; value: string };
  context: { arguments: Record<string, unknown> };
}

/**
 * The input of one evaluation. Exactly the subject field the action (and
 * kind) needs is set. A type alias, not an interface, so it is a plain JSON
 * record where one is expected (the decision log).
 */
/** What a request is about: exactly the field its action needs (and `kind` for "list"). */
export type PolicySubject = {
  /** Only with action "list". */
  kind?: ListKind;
  tool?: ToolSubject;
  resource?: { uri: string };
  prompt?: { name: string; arguments: Record<string, unknown> };
  completion?: CompletionSubject;
};

export type PolicyInput = PolicySubject & {
  /** Verified claims; absent only while the token is still unverified (then nothing is evaluated). */
  claims?: Record<string, unknown>;
  scopes?: string[];
  server: string;
  action: DecisionAction;
  /** Request time, RFC 3339 UTC. */
  time: string;
};

/** A well-formed answer of the decision entrypoint. */
export interface PolicyAnswer {
  allow: boolean;
  reasons: string[];
  /** Every scope the call needs, set only when scope is the one thing missing. */
  requiredScopes: string[];
}

/** The policy answered something the contract does not allow; the decision fails closed (`policy_error`). */
export class PolicyAnswerError extends ToolgateError {
  constructor(message: string) {
    super('policy_answer_malformed', message);
  }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/**
 * Reads the entrypoint's answer. Anything but an object with a boolean
 * `allow` and, when present, string arrays `reasons` and `required_scopes`
 * (an undefined decision included) throws PolicyAnswerError.
 */
export function readPolicyAnswer(out: unknown): PolicyAnswer {
  const o = out as { allow?: unknown; reasons?: unknown; required_scopes?: unknown } | undefined;
  if (!o || typeof o !== 'object' || typeof o.allow !== 'boolean') {
    throw new PolicyAnswerError('the policy answer has no boolean "allow"');
  }
  // Only an absent field defaults to []: null is not an array of strings.
  const reasons = o.reasons === undefined ? [] : o.reasons;
  const requiredScopes = o.required_scopes === undefined ? [] : o.required_scopes;
  if (!isStringArray(reasons) || !isStringArray(requiredScopes)) {
    throw new PolicyAnswerError('the policy answer\'s "reasons" and "required_scopes" must be arrays of strings');
  }
  return { allow: o.allow, reasons, requiredScopes };
}

/**
 * Reads a list rule's answer for `count` items: an array of exactly that many
 * elements, or PolicyAnswerError. Each element is read by readPolicyAnswer
 * when it is used, so one malformed element fails only its own item.
 */
export function readListAnswers(out: unknown, count: number): unknown[] {
  if (!Array.isArray(out)) throw new PolicyAnswerError('the list answer is not an array');
  if (out.length !== count) throw new PolicyAnswerError(`the list answer has ${out.length} elements for ${count} items`);
  return out;
}
