import { ToolgateError } from '../common/errors.js';

/** A compiled policy could not be loaded; the previous policy (if any) stays active. */
export class PolicyLoadError extends ToolgateError {}

/**
 * Evaluating a loaded policy failed. Codes: `eval_aborted` (opa_abort, e.g. a
 * conflict or memory limit), `eval_builtin_missing`, `eval_reentrant`,
 * `eval_entrypoint_unknown`, `eval_result_invalid`, `eval_failed`.
 * On the decision path every one of these means deny.
 */
export class PolicyEvalError extends ToolgateError {}
