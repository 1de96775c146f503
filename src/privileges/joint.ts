import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import type { ReplayFilter } from '../replay/replay.js';
import { callerOf, eachEvaluation, type EventSource } from './events.js';
import { evaluateInput, type NeedExaminer } from './examiner.js';
import type { PrivilegeSet } from './privileges-report.js';
import { heldRoles, heldScopes, withoutRole, withoutScope } from './removal.js';

/** What the joint check needs. */
export interface JointCheck {
  source: EventSource;
  filter?: ReplayFilter;
  examiner: NeedExaminer;
  policy: WasmPolicy;
  /** Callers with something unused, keyed `c:<client>` or `s:<issuer>\n<sub>`. */
  unused: Map<string, PrivilegeSet>;
}

/**
 * "Unused" is found one item at a time; two grants that each suffice (a role
 * claimed and the same role implied by a scope) are each unneeded alone and
 * needed together. This pass takes all of a caller's unused items away at once
 * from each of its allowed evaluations (more than one of them in the input,
 * else the single removal already answered). Returns, per caller whose items
 * cannot all go, the first decision id that then flips.
 */
export async function checkJointRemoval(o: JointCheck): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  const memo = new Map<string, boolean>();
  await eachEvaluation(o.source, o.filter, (ev, e) => {
    if (!ev.recorded.allow) return;
    const who = callerOf(ev, e);
    const keys = [`s:${who.subjectKey}`, ...(who.client ? [`c:${who.client}`] : [])].filter((k) => o.unused.has(k) && !failed.has(k));
    if (keys.length === 0) return;
    const key = o.examiner.key(ev.input, ev.nowNs);
    if (!o.examiner.allows(ev.input, ev.nowNs, key)) return;
    for (const k of keys) {
      const u = o.unused.get(k)!;
      const scopes = heldScopes(ev.input).filter((s) => u.scopes.includes(s));
      const roles = heldRoles(ev.input).filter((r) => u.roles.includes(r));
      if (scopes.length + roles.length < 2) continue;
      const mk = `${key}\n${scopes.join(' ')}\n${roles.join(' ')}`;
      let allow = memo.get(mk);
      if (allow === undefined) {
        let input = ev.input;
        for (const s of scopes) input = withoutScope(input, s);
        for (const r of roles) input = withoutRole(input, r);
        allow = evaluateInput(o.policy, input, ev.nowNs).allow;
        o.examiner.stats.evaluations++;
        memo.set(mk, allow);
      }
      if (!allow) failed.set(k, ev.decisionId);
    }
  });
  return failed;
}
