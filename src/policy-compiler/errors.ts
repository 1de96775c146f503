import { ToolgateError } from '../common/errors.js';

/** Which step of turning Rego into an active policy failed. */
export type PolicyStep = 'capabilities' | 'check' | 'test' | 'parity' | 'build' | 'fetch' | 'bundle' | 'verify' | 'load';

/** One located problem reported by the OPA CLI. */
export interface PolicyProblem {
  file?: string;
  line?: number;
  message: string;
}

/**
 * A policy could not be checked, tested, built or loaded. `problems` carries
 * every file:line the OPA CLI reported, so status pages and logs can point at it.
 */
export class PolicyBuildError extends ToolgateError {
  constructor(
    code: string,
    readonly step: PolicyStep,
    message: string,
    readonly problems: PolicyProblem[] = [],
  ) {
    super(code, message, { step, problems });
  }
}
