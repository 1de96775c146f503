import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import { evaluationOutcome, type EvaluationOutcome } from '../decision/policy-answer.js';
import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import { canonicalJson, inputKey } from './canonical.js';
import { heldRoles, heldScopes, withoutRole, withoutScope } from './removal.js';

const encoder = new TextEncoder();

/**
 * One evaluation through the runtime and answer mapping the service uses, the
 * clock pinned to `nowNs`. The input goes in as JSON bytes (the SDK's fast path).
 */
export function evaluateInput(policy: WasmPolicy, input: Record<string, unknown>, nowNs: number): EvaluationOutcome {
  const bytes = encoder.encode(JSON.stringify(input));
  const buf = bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  return evaluationOutcome(() => policy.evaluate(DECISION_ENTRYPOINT, buf, { nowNs }));
}

/** What one distinct input showed. */
export interface Examination {
  /** The policy's answer to the input as recorded. */
  allow: boolean;
  /** Held scopes and roles whose removal turns the allow into a deny; undefined until examined (only allows are). */
  needed?: { scopes: string[]; roles: string[] };
}

/** Counters of the memo, for the report's evidence and the benchmark. */
export interface ExaminerStats {
  /** Evaluations asked for (one per recorded evaluation looked at). */
  lookups: number;
  /** Distinct inputs among them (memo misses). */
  distinct: number;
  /** Policy evaluations actually run. */
  evaluations: number;
}

/** Memo entries kept before the memo is emptied (bounds memory on logs with tens of millions of distinct inputs). */
const MAX_MEMO = 4_000_000;

/**
 * Decides, for recorded inputs, which held scopes and roles each allowed one
 * needs: the input is evaluated as recorded, then once per held scope with
 * that scope removed and once per claimed role with that role removed. The
 * answers are memoized on the canonical input (and its time, unless the
 * policy provably ignores time: `clockFree`), so a polling agent's thousand
 * identical calls cost one set of evaluations.
 */
export class NeedExaminer {
  readonly stats: ExaminerStats = { lookups: 0, distinct: 0, evaluations: 0 };
  private memo = new Map<string, Examination>();

  constructor(
    private readonly policy: WasmPolicy,
    /** Inputs differing only in `time` (and the clock) are the same input. */
    private readonly clockFree: boolean,
  ) {}

  /** The memo key of an input at a time. */
  key(input: Record<string, unknown>, nowNs: number): string {
    if (this.clockFree) {
      const { time: _time, ...rest } = input;
      return inputKey(canonicalJson(rest));
    }
    return inputKey(`${canonicalJson(input)}\n${nowNs}`);
  }

  private run(input: Record<string, unknown>, nowNs: number): boolean {
    this.stats.evaluations++;
    return evaluateInput(this.policy, input, nowNs).allow;
  }

  private entry(key: string, input: Record<string, unknown>, nowNs: number): Examination {
    this.stats.lookups++;
    let e = this.memo.get(key);
    if (!e) {
      this.stats.distinct++;
      if (this.memo.size >= MAX_MEMO) this.memo.clear();
      e = { allow: this.run(input, nowNs) };
      this.memo.set(key, e);
    }
    return e;
  }

  /** The policy's answer to the input as recorded (memoized). */
  allows(input: Record<string, unknown>, nowNs: number, key = this.key(input, nowNs)): boolean {
    return this.entry(key, input, nowNs).allow;
  }

  /** The answer, and for an allow the held scopes and roles it needs (memoized). */
  examine(input: Record<string, unknown>, nowNs: number, key = this.key(input, nowNs)): Examination {
    const e = this.entry(key, input, nowNs);
    if (e.allow && !e.needed) {
      e.needed = {
        scopes: heldScopes(input).filter((s) => !this.run(withoutScope(input, s), nowNs)),
        roles: heldRoles(input).filter((r) => !this.run(withoutRole(input, r), nowNs)),
      };
    }
    return e;
  }
}
