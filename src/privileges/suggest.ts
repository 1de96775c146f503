import { jsonPatch } from '../evaluator/builtins/json-patch.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { withDataPatch, type DataPatchOp } from '../replay/data-patch.js';
import type { ReplayFilter } from '../replay/replay.js';
import { pointer, type CatalogView } from './catalog.js';
import { eachEvaluation, type EventSource } from './events.js';
import { evaluateInput, type NeedExaminer } from './examiner.js';
import type { PrivilegesReport, SuggestedChange } from './privileges-report.js';

/** What the suggestion is worked out from. */
export interface SuggestInputs {
  policy: ActivePolicy;
  /** The analysis's examiner: its memo already knows the policy's answer to every input of the period. */
  examiner: NeedExaminer;
  catalog: CatalogView;
  report: PrivilegesReport;
  /** `server\ntool` → roles of the callers of its allowed evaluations. */
  rolesUsed: Map<string, Set<string>>;
  /** `server\ntool` → allowed calls. */
  toolCalls: Map<string, number>;
  source: EventSource;
  filter?: ReplayFilter;
}

/** A recorded evaluation the patched data denied although the policy allows it. */
interface Flip {
  input: Record<string, unknown>;
  nowNs: number;
}

const toolPath = (server: string, tool: string) => pointer(['catalog', 'servers', server, 'tools', tool]);

/**
 * Candidate changes, each guarded by a `test` of the value it was worked out
 * from (so the patch refuses to apply to data that has changed since):
 * - a catalog tool no allowed call used, though someone held one of its roles: removed;
 * - a called tool's roles that no caller of its allowed evaluations had (with `min_calls` calls of evidence): dropped;
 * - a `scope_roles` entry whose scope every holder had but none needed (each holder with enough evidence): removed.
 */
function candidates(s: SuggestInputs): SuggestedChange[] {
  const { catalog, report } = s;
  const minCalls = report.min_calls;
  if (report.evidence.allowed_calls < minCalls) return [];
  const out: SuggestedChange[] = [];
  for (const t of report.unused_tools ?? []) {
    const p = toolPath(t.server, t.tool);
    out.push({
      why: `tool ${t.tool} on ${t.server}: ${t.holders} subject(s) held a role for it (${t.roles.join(', ')}), no allowed call in the period`,
      ops: [{ op: 'test', path: `${p}/roles`, value: t.roles }, { op: 'remove', path: p }],
    });
  }
  for (const t of catalog.tools) {
    const k = `${t.server}\n${t.tool}`;
    const used = s.rolesUsed.get(k);
    const calls = s.toolCalls.get(k) ?? 0;
    if (!used || calls < minCalls) continue;
    const keep = t.roles.filter((r) => used.has(r));
    if (keep.length === 0 || keep.length === t.roles.length) continue;
    const drop = t.roles.filter((r) => !used.has(r));
    const p = `${toolPath(t.server, t.tool)}/roles`;
    out.push({
      why: `tool ${t.tool} on ${t.server}: none of its ${calls} allowed call(s) came from a caller with role ${drop.join(', ')}`,
      ops: [{ op: 'test', path: p, value: t.roles }, { op: 'replace', path: p, value: keep }],
    });
  }
  for (const [scope, roles] of Object.entries(catalog.scopeRoles)) {
    const holders = report.subjects.filter((x) => x.held.scopes.includes(scope));
    if (holders.length === 0 || holders.some((x) => x.status !== 'findings' || x.needed.scopes.includes(scope))) continue;
    const p = pointer(['catalog', 'scope_roles', scope]);
    out.push({
      why: `scope ${scope} (→ ${roles.join(', ')}): held by ${holders.length} subject(s), needed by none of their allowed evaluations`,
      ops: [{ op: 'test', path: p, value: roles }, { op: 'remove', path: p }],
    });
  }
  return out;
}

/** Every recorded evaluation the policy allows and `patched` denies (each distinct input once). */
async function flips(s: SuggestInputs, patched: ActivePolicy): Promise<Flip[]> {
  const seen = new Set<string>();
  const out: Flip[] = [];
  await eachEvaluation(s.source, s.filter, (ev) => {
    const key = s.examiner.key(ev.input, ev.nowNs);
    if (seen.has(key)) return;
    seen.add(key);
    if (!s.examiner.allows(ev.input, ev.nowNs, key)) return;
    s.examiner.stats.evaluations++;
    if (!evaluateInput(patched.policy, ev.input, ev.nowNs).allow) out.push({ input: ev.input, nowNs: ev.nowNs });
  });
  return out;
}

const opsOf = (changes: SuggestedChange[]): DataPatchOp[] => changes.flatMap((c) => c.ops);

/**
 * Works out the candidate changes, then replays every evaluation of the period
 * the policy allows on the data with all of them applied. A change that, on
 * its own, denies any of the evaluations that flipped is withdrawn, and the
 * rest is replayed again, until nothing flips: what is suggested denies no
 * allowed evaluation of the period (`toolgate replay --data-patch` shows the same).
 */
export async function suggestTightening(s: SuggestInputs): Promise<NonNullable<PrivilegesReport['suggestion']>> {
  // A change whose guard does not hold on the data as loaded (e.g. a roles list with a non-string) is not proposed.
  let changes = candidates(s).filter((c) => {
    try {
      jsonPatch(s.policy.policy.source.data, c.ops);
      return true;
    } catch {
      return false;
    }
  });
  const withdrawn: { why: string; flips: number }[] = [];
  for (let round = 0; changes.length > 0; round++) {
    const found = await flips(s, await withDataPatch(s.policy, opsOf(changes), 'the suggestion'));
    if (found.length === 0) break;
    const keep: SuggestedChange[] = [];
    for (const c of changes) {
      const alone = await withDataPatch(s.policy, c.ops, 'the suggestion');
      const n = found.filter((f) => !evaluateInput(alone.policy, f.input, f.nowNs).allow).length;
      s.examiner.stats.evaluations += found.length;
      if (n > 0) withdrawn.push({ why: c.why, flips: n });
      else keep.push(c);
    }
    // Changes that only flip together (none alone): give up on the lot rather than loop.
    if (keep.length === changes.length || round >= 3) {
      for (const c of keep) withdrawn.push({ why: c.why, flips: 0 });
      changes = [];
      break;
    }
    changes = keep;
  }
  return { file: null, changes, withdrawn };
}
