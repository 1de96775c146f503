import type { DecisionEvent } from '../audit/decision-event.js';
import { evaluationOutcome, type EvaluationOutcome } from '../decision/policy-answer.js';
import { DECISION_ENTRYPOINT } from '../contract/policy-contract.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { readLogLines } from './log-files.js';
import { replayInputs, type NotReplayableReason, type RecordedEvaluation } from './replay-inputs.js';

/** How the candidate's answer differs from the baseline's on one evaluation. */
export type ChangeKind = 'allow_to_deny' | 'deny_to_allow' | 'code_changed' | 'reasons_changed';
export const CHANGE_KINDS: ChangeKind[] = ['allow_to_deny', 'deny_to_allow', 'code_changed', 'reasons_changed'];

/** Which recorded events to replay. */
export interface ReplayFilter {
  since?: number;
  until?: number;
  servers?: string[];
  /**
   * Narrows the report to these tools, resources or prompts (matched per
   * evaluation, so per list item too): the change counts, breakdowns, samples
   * and subjects, and so `--max-flips`. Every other evaluation is still
   * replayed and counted in `other_tools`, so no event vanishes from the totals.
   */
  tools?: string[];
  /** Matches the event's revision label or its content hash. */
  revisions?: string[];
}

/** Counts of changes by kind under one key (a tool, a role, …). */
export type ChangeCounts = Partial<Record<ChangeKind, number>>;

/** Everything a replay found; the formats in report-format.ts render it. */
export interface ReplayReport {
  candidate: { location: string; revision: string; content_hash: string };
  baseline: { location: string; revision: string; content_hash: string };
  files: string[];
  /** Lines read, and events among them that were not JSON decision events. */
  events: number;
  unreadable: number;
  filtered_out: number;
  /** Evaluations run on both policies (a list event counts one per item). */
  replayed: number;
  same: number;
  allow_to_deny: number;
  deny_to_allow: number;
  code_changed: number;
  reasons_changed: number;
  /** Replayed, but the input had been masked: the policies saw the masked values. */
  masked: number;
  /** Masked evaluations among the changes above. */
  masked_changed: number;
  /** Events with nothing to evaluate, by reason. */
  not_replayable: number;
  not_replayable_by_reason: Partial<Record<NotReplayableReason, number>>;
  /** Evaluations where the baseline, replayed, does not answer what was recorded. */
  baseline_drift: number;
  codes: Record<string, number>;
  reasons: { added: Record<string, number>; removed: Record<string, number> };
  by_server: Record<string, ChangeCounts>;
  by_tool: Record<string, ChangeCounts>;
  by_role: Record<string, ChangeCounts>;
  by_scope: Record<string, ChangeCounts>;
  /** Distinct subjects (token `sub`) affected per kind; the subjects themselves only when asked. */
  subjects: Partial<Record<ChangeKind, number>>;
  subject_list?: Partial<Record<ChangeKind, string[]>>;
  /** True when more than MAX_SUBJECTS distinct subjects changed in one kind: the count is then a lower bound. */
  subjects_truncated?: boolean;
  samples: Partial<Record<ChangeKind | 'baseline_drift' | 'masked' | 'not_replayable', string[]>>;
  /** With a tool filter: the tools the report is narrowed to, and what the evaluations of every other subject did. */
  other_tools?: OtherToolsCounts;
  elapsed_ms: number;
}

/** The evaluations a tool filter left out of the report's details: replayed all the same, and counted. */
export interface OtherToolsCounts {
  /** The filter (`--tool`): the report's details are about these only. */
  tools: string[];
  replayed: number;
  same: number;
  allow_to_deny: number;
  deny_to_allow: number;
  code_changed: number;
  reasons_changed: number;
  baseline_drift: number;
}

/** Options of one replay. */
export interface ReplayOptions {
  candidate: ActivePolicy & { location: string };
  baseline: ActivePolicy & { location: string };
  files: string[];
  filter?: ReplayFilter;
  /** Sample decision ids kept per kind of change (default 5). */
  samples?: number;
  /** List the affected subjects, not only count them. */
  listSubjects?: boolean;
}

const MAX_KEYS = 200;
/** Distinct subjects tracked per kind of change; bounds memory on logs of millions of callers. */
const MAX_SUBJECTS = 100_000;

function bump(map: Record<string, number>, key: string, by = 1): void {
  if (key in map || Object.keys(map).length < MAX_KEYS) map[key] = (map[key] ?? 0) + by;
  else map['(other)'] = (map['(other)'] ?? 0) + by;
}

function bumpChange(map: Record<string, ChangeCounts>, key: string, kind: ChangeKind): void {
  const k = key in map || Object.keys(map).length < MAX_KEYS ? key : '(other)';
  const c = (map[k] ??= {});
  c[kind] = (c[kind] ?? 0) + 1;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function classify(b: EvaluationOutcome, c: EvaluationOutcome): ChangeKind | undefined {
  if (b.allow && !c.allow) return 'allow_to_deny';
  if (!b.allow && c.allow) return 'deny_to_allow';
  if (b.code !== c.code) return 'code_changed';
  if (b.reasons.length !== c.reasons.length || b.reasons.some((r, i) => r !== c.reasons[i])) return 'reasons_changed';
  return undefined;
}

/** Whether an event passes the filter (time, revision, server; tools are matched per evaluation). */
export function selected(e: DecisionEvent, f: ReplayFilter | undefined): boolean {
  if (!f) return true;
  if (f.since !== undefined || f.until !== undefined) {
    const t = Date.parse(e.timestamp);
    if (f.since !== undefined && !(t >= f.since)) return false;
    if (f.until !== undefined && !(t < f.until)) return false;
  }
  if (f.revisions && !f.revisions.includes(e.revision ?? '') && !f.revisions.includes(e.bundles?.toolgate?.content_hash ?? '')) return false;
  if (f.servers && !f.servers.includes(typeof e.input?.server === 'string' ? e.input.server : '')) return false;
  return true;
}

/**
 * Re-evaluates every recorded input on the baseline and on the candidate,
 * through the WasmPolicy the service answers with and the same answer→code
 * mapping, with `time.now_ns` pinned to the event's recorded time. Streams
 * the files: memory is bounded by the report, not by the logs.
 */
export async function replay(o: ReplayOptions): Promise<ReplayReport> {
  const started = performance.now();
  const keepSamples = o.samples ?? 5;
  const r: ReplayReport = {
    candidate: { location: o.candidate.location, revision: o.candidate.revision, content_hash: o.candidate.contentHash },
    baseline: { location: o.baseline.location, revision: o.baseline.revision, content_hash: o.baseline.contentHash },
    files: o.files,
    events: 0,
    unreadable: 0,
    filtered_out: 0,
    replayed: 0,
    same: 0,
    allow_to_deny: 0,
    deny_to_allow: 0,
    code_changed: 0,
    reasons_changed: 0,
    masked: 0,
    masked_changed: 0,
    not_replayable: 0,
    not_replayable_by_reason: {},
    baseline_drift: 0,
    codes: {},
    reasons: { added: {}, removed: {} },
    by_server: {},
    by_tool: {},
    by_role: {},
    by_scope: {},
    subjects: {},
    samples: {},
    elapsed_ms: 0,
  };
  const tools = o.filter?.tools;
  const other: OtherToolsCounts | undefined = tools
    ? { tools, replayed: 0, same: 0, allow_to_deny: 0, deny_to_allow: 0, code_changed: 0, reasons_changed: 0, baseline_drift: 0 }
    : undefined;
  if (other) r.other_tools = other;
  const subjects = new Map<ChangeKind, Set<string>>();
  const sample = (kind: keyof ReplayReport['samples'], id: string) => {
    const list = (r.samples[kind] ??= []);
    if (list.length < keepSamples && list[list.length - 1] !== id) list.push(id);
  };
  // The SDK takes input as pre-serialised JSON bytes too: serialise once, evaluate twice.
  const encoder = new TextEncoder();
  const run = (p: ActivePolicy, input: ArrayBuffer, ev: RecordedEvaluation) => evaluationOutcome(() => p.policy.evaluate(DECISION_ENTRYPOINT, input, { nowNs: ev.nowNs }));

  for (const file of o.files) {
    for await (const line of readLogLines(file)) {
      r.events++;
      let e: DecisionEvent;
      try {
        e = JSON.parse(line) as DecisionEvent;
        if (!e || typeof e !== 'object' || typeof e.decision_id !== 'string') throw new Error('not an event');
      } catch {
        r.unreadable++;
        continue;
      }
      if (!selected(e, o.filter)) {
        r.filtered_out++;
        continue;
      }
      const got = replayInputs(e);
      if (!got.ok) {
        r.not_replayable++;
        bump(r.not_replayable_by_reason as Record<string, number>, got.reason);
        sample('not_replayable', e.decision_id);
        continue;
      }
      for (const ev of got.evaluations) {
        const bytes = encoder.encode(JSON.stringify(ev.input));
        const input = bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
        const b = run(o.baseline, input as ArrayBuffer, ev);
        const c = run(o.candidate, input as ArrayBuffer, ev);
        if (other && !other.tools.includes(ev.subject)) {
          other.replayed++;
          if (b.allow !== ev.recorded.allow || (ev.hasCode && b.code !== ev.recorded.code)) other.baseline_drift++;
          other[classify(b, c) ?? 'same']++;
          continue;
        }
        r.replayed++;
        if (ev.masked) {
          r.masked++;
          sample('masked', ev.decisionId);
        }
        if (b.allow !== ev.recorded.allow || (ev.hasCode && b.code !== ev.recorded.code)) {
          r.baseline_drift++;
          sample('baseline_drift', ev.decisionId);
        }
        const kind = classify(b, c);
        if (!kind) {
          r.same++;
          continue;
        }
        r[kind]++;
        if (ev.masked) r.masked_changed++;
        sample(kind, ev.decisionId);
        if (b.code !== c.code) bump(r.codes, `${b.code ?? 'allowed'} → ${c.code ?? 'allowed'}`);
        for (const x of c.reasons) if (!b.reasons.includes(x)) bump(r.reasons.added, x);
        for (const x of b.reasons) if (!c.reasons.includes(x)) bump(r.reasons.removed, x);
        bumpChange(r.by_server, ev.server, kind);
        bumpChange(r.by_tool, ev.subject, kind);
        const claims = ev.input.claims as Record<string, unknown> | undefined;
        for (const role of new Set(strings(claims?.roles))) bumpChange(r.by_role, role, kind);
        for (const scope of new Set(strings(ev.input.scopes))) bumpChange(r.by_scope, scope, kind);
        const sub = typeof claims?.sub === 'string' ? claims.sub : '(none)';
        let set = subjects.get(kind);
        if (!set) subjects.set(kind, (set = new Set()));
        if (set.size < MAX_SUBJECTS) set.add(sub);
        else if (!set.has(sub)) r.subjects_truncated = true;
      }
    }
  }
  for (const [kind, set] of subjects) {
    r.subjects[kind] = set.size;
    if (o.listSubjects) (r.subject_list ??= {})[kind] = [...set].sort();
  }
  r.elapsed_ms = Math.round(performance.now() - started);
  return r;
}
