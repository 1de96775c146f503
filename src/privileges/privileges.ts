import type { DecisionEvent } from '../audit/decision-event.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import type { ReplayFilter } from '../replay/replay.js';
import type { RecordedEvaluation } from '../replay/replay-inputs.js';
import { effectiveRoles, readCatalog, type CatalogView } from './catalog.js';
import { policyReadsClock } from './clock.js';
import { callerOf, eachEvaluation, type EventSource } from './events.js';
import { checkJointRemoval } from './joint.js';
import { NeedExaminer } from './examiner.js';
import type { CallerFindings, LimitFinding, PeriodEvidence, PrivilegeSet, PrivilegesReport, UnusedTool } from './privileges-report.js';
import { heldRoles, heldScopes } from './removal.js';
import { suggestTightening } from './suggest.js';

/** Options of one analysis. */
export interface PrivilegesOptions {
  policy: ActivePolicy & { location: string };
  source: EventSource;
  filter?: ReplayFilter;
  /** Fewer allowed calls than this and nothing is called unused (default 20). */
  minCalls?: number;
  /** Work out a suggested data change and verify it over the period (one more pass per round of verification). */
  suggest?: boolean;
}

/** Running totals for one caller. */
interface CallerTally {
  issuer?: string;
  heldScopes: Set<string>;
  heldRoles: Set<string>;
  neededScopes: Set<string>;
  neededRoles: Set<string>;
  /** Claimed and scope-derived roles (for the catalog findings). */
  effective: Set<string>;
  calls: number;
  listItems: number;
  denied: number;
  masked: number;
  drift: number;
  first: number;
  last: number;
}

function tally(map: Map<string, CallerTally>, key: string, issuer?: string): CallerTally {
  let t = map.get(key);
  if (!t) {
    t = { issuer, heldScopes: new Set(), heldRoles: new Set(), neededScopes: new Set(), neededRoles: new Set(), effective: new Set(), calls: 0, listItems: 0, denied: 0, masked: 0, drift: 0, first: Infinity, last: -Infinity };
    map.set(key, t);
  }
  return t;
}

const sorted = (s: Set<string>): string[] => [...s].sort();
const iso = (t: number): string | null => (Number.isFinite(t) ? new Date(t).toISOString() : null);

function findings(id: string, t: CallerTally, minCalls: number): CallerFindings {
  const status = t.calls >= minCalls ? 'findings' : 'insufficient_evidence';
  const held: PrivilegeSet = { scopes: sorted(t.heldScopes), roles: sorted(t.heldRoles) };
  const needed: PrivilegeSet = { scopes: sorted(t.neededScopes), roles: sorted(t.neededRoles) };
  const unused: PrivilegeSet =
    status === 'findings' ? { scopes: held.scopes.filter((s) => !t.neededScopes.has(s)), roles: held.roles.filter((r) => !t.neededRoles.has(r)) } : { scopes: [], roles: [] };
  return {
    id,
    ...(t.issuer !== undefined ? { issuer: t.issuer } : {}),
    status,
    held,
    needed,
    unused,
    unused_together: unused.scopes.length + unused.roles.length > 0 ? true : null,
    calls: t.calls,
    evidence: { list_items: t.listItems, denied: t.denied, masked: t.masked, drift: t.drift, first_seen: iso(t.first), last_seen: iso(t.last), together_sample: null },
  };
}

/** Catalog usage gathered in the pass. */
interface CatalogTally {
  /** `server\ntool` → allowed calls. */
  called: Map<string, number>;
  listed: Map<string, number>;
  /** `server\ntool\nargument\nrole` → calls and the largest value. */
  limits: Map<string, { calls: number; max: number }>;
  /** `server\ntool` → roles (claimed or from scopes) of the callers of its allowed calls and list items. */
  rolesUsed: Map<string, Set<string>>;
}

const toolKey = (server: string, tool: string) => `${server}\n${tool}`;
const limitKey = (server: string, tool: string, argument: string, role: string | null) => `${server}\n${tool}\n${argument}\n${role ?? ''}`;

/** Records the argument values of an allowed call under the limit that applied to it. */
function recordLimits(cat: CatalogView, ct: CatalogTally, ev: RecordedEvaluation, roles: Set<string>): void {
  const tool = ev.input.tool as { name?: unknown; arguments?: unknown } | undefined;
  const args = tool && typeof tool.arguments === 'object' && tool.arguments ? (tool.arguments as Record<string, unknown>) : {};
  const mine = cat.limits.filter((l) => l.server === ev.server && l.tool === ev.subject && typeof args[l.argument] === 'number');
  if (mine.length === 0) return;
  const bump = (k: string, v: number) => {
    const x = ct.limits.get(k) ?? { calls: 0, max: -Infinity };
    x.calls++;
    x.max = Math.max(x.max, v);
    ct.limits.set(k, x);
  };
  for (const argument of new Set(mine.map((l) => l.argument))) {
    const v = args[argument] as number;
    const byRole = mine.filter((l) => l.argument === argument && l.role !== null && roles.has(l.role));
    const applied = byRole.length ? Math.max(...byRole.map((l) => l.limit)) : undefined;
    for (const l of mine.filter((x) => x.argument === argument)) {
      if (l.role === null) bump(limitKey(l.server, l.tool, argument, null), v);
      else if (roles.has(l.role) && l.limit === applied) bump(limitKey(l.server, l.tool, argument, l.role), v);
    }
  }
}

/**
 * Least-privilege findings over the recorded decisions of a period: per
 * client and per subject, the scopes and roles held, those needed by at least
 * one allowed evaluation (replayed with each removed, at its recorded time),
 * and the rest (unused) once there are `minCalls` allowed calls of evidence;
 * catalog tools nobody called, argument limits never approached; and, when
 * asked, a data change that would tighten the policy without denying any
 * allowed evaluation of the period.
 */
export async function analyzePrivileges(o: PrivilegesOptions): Promise<PrivilegesReport> {
  const started = performance.now();
  const minCalls = o.minCalls ?? 20;
  const clockFree = !policyReadsClock(o.policy);
  const examiner = new NeedExaminer(o.policy.policy, clockFree);
  const catalog = readCatalog(o.policy.policy.source.data);
  const clients = new Map<string, CallerTally>();
  const subjects = new Map<string, CallerTally>();
  const ct: CatalogTally = { called: new Map(), listed: new Map(), limits: new Map(), rolesUsed: new Map() };
  const ev0 = { masked: 0, drift: 0, allowed_calls: 0, allowed_list_items: 0, denied: 0, without_client_id: 0 };
  let first = Infinity;
  let last = -Infinity;

  const counts = await eachEvaluation(o.source, o.filter, (ev: RecordedEvaluation, e: DecisionEvent) => {
    const input = ev.input;
    const { subjectKey, issuer, client } = callerOf(ev, e);
    const callers = [tally(subjects, subjectKey, issuer)];
    if (client) callers.push(tally(clients, client));
    else ev0.without_client_id++;
    const t = ev.nowNs / 1e6;
    first = Math.min(first, t);
    last = Math.max(last, t);
    const scopes = heldScopes(input);
    const roles = heldRoles(input);
    const eff = catalog ? effectiveRoles(input, catalog.scopeRoles) : undefined;
    for (const c of callers) {
      for (const s of scopes) c.heldScopes.add(s);
      for (const r of roles) c.heldRoles.add(r);
      if (eff) for (const r of eff) c.effective.add(r);
      c.first = Math.min(c.first, t);
      c.last = Math.max(c.last, t);
      if (ev.masked) c.masked++;
    }
    if (ev.masked) ev0.masked++;
    if (!ev.recorded.allow) {
      ev0.denied++;
      for (const c of callers) c.denied++;
      return;
    }
    const x = examiner.examine(input, ev.nowNs);
    if (!x.allow) {
      ev0.drift++;
      for (const c of callers) c.drift++;
      return;
    }
    const isList = input.action === 'list';
    if (isList) ev0.allowed_list_items++;
    else ev0.allowed_calls++;
    for (const c of callers) {
      if (isList) c.listItems++;
      else c.calls++;
      for (const s of x.needed!.scopes) c.neededScopes.add(s);
      for (const r of x.needed!.roles) c.neededRoles.add(r);
    }
    if (!catalog || !(input.tool && (input.action === 'call' || (isList && (input.kind ?? 'tool') === 'tool')))) return;
    const k = toolKey(ev.server, ev.subject);
    let used = ct.rolesUsed.get(k);
    if (!used) ct.rolesUsed.set(k, (used = new Set()));
    for (const r of eff!) used.add(r);
    if (isList) ct.listed.set(k, (ct.listed.get(k) ?? 0) + 1);
    else {
      ct.called.set(k, (ct.called.get(k) ?? 0) + 1);
      recordLimits(catalog, ct, ev, eff!);
    }
  });

  const evidence: PeriodEvidence = { ...counts, ...ev0, distinct_inputs: examiner.stats.distinct, evaluations: examiner.stats.evaluations, time_ignored: clockFree };
  const report: PrivilegesReport = {
    kind: 'privileges',
    schema_version: 1,
    generated_at: new Date().toISOString(),
    policy: { location: o.policy.location, revision: o.policy.revision, content_hash: o.policy.contentHash },
    source: { kind: o.source.kind, location: o.source.location },
    period: {
      since: o.filter?.since !== undefined ? new Date(o.filter.since).toISOString() : null,
      until: o.filter?.until !== undefined ? new Date(o.filter.until).toISOString() : null,
      first_event: iso(first),
      last_event: iso(last),
    },
    min_calls: minCalls,
    evidence,
    clients: [...clients].sort((a, b) => a[0].localeCompare(b[0])).map(([id, t]) => findings(id, t, minCalls)),
    subjects: [...subjects].sort((a, b) => a[0].localeCompare(b[0])).map(([key, t]) => findings(key.slice(key.indexOf('\n') + 1), t, minCalls)),
    unused_tools: catalog ? unusedTools(catalog, ct, subjects) : null,
    limits: catalog ? limitFindings(catalog, ct, minCalls) : null,
    suggestion: null,
    elapsed_ms: 0,
  };
  // Unused one at a time; check the callers with several unused items take them all away at once too.
  const several = (c: CallerFindings) => c.unused.scopes.length + c.unused.roles.length > 1;
  const unused = new Map<string, PrivilegeSet>([
    ...report.clients.filter(several).map((c) => [`c:${c.id}`, c.unused] as const),
    ...report.subjects.filter(several).map((c) => [`s:${c.issuer}\n${c.id}`, c.unused] as const),
  ]);
  if (unused.size > 0) {
    const failed = await checkJointRemoval({ source: o.source, filter: o.filter, examiner, policy: o.policy.policy, unused });
    const mark = (c: CallerFindings, k: string) => {
      const id = failed.get(k);
      if (id === undefined) return;
      c.unused_together = false;
      c.evidence.together_sample = id;
    };
    for (const c of report.clients) mark(c, `c:${c.id}`);
    for (const c of report.subjects) mark(c, `s:${c.issuer}\n${c.id}`);
  }
  if (o.suggest && catalog) {
    report.suggestion = await suggestTightening({ policy: o.policy, examiner, catalog, report, rolesUsed: ct.rolesUsed, toolCalls: ct.called, source: o.source, filter: o.filter });
  }
  report.evidence.distinct_inputs = examiner.stats.distinct;
  report.evidence.evaluations = examiner.stats.evaluations;
  report.elapsed_ms = Math.round(performance.now() - started);
  return report;
}

function unusedTools(cat: CatalogView, ct: CatalogTally, subjects: Map<string, CallerTally>): UnusedTool[] {
  const out: UnusedTool[] = [];
  for (const t of cat.tools) {
    if (ct.called.has(toolKey(t.server, t.tool))) continue;
    let holders = 0;
    for (const s of subjects.values()) if (t.roles.some((r) => s.effective.has(r))) holders++;
    if (holders === 0) continue;
    out.push({ server: t.server, tool: t.tool, roles: t.roles, scopes: t.scopes, holders, listed: ct.listed.get(toolKey(t.server, t.tool)) ?? 0 });
  }
  return out.sort((a, b) => byName(a.server, b.server) || byName(a.tool, b.tool));
}

const byName = (a: string | null, b: string | null) => (a ?? '').localeCompare(b ?? '');

function limitFindings(cat: CatalogView, ct: CatalogTally, minCalls: number): LimitFinding[] {
  const order = [...cat.limits].sort((a, b) => byName(a.server, b.server) || byName(a.tool, b.tool) || byName(a.argument, b.argument) || byName(a.role, b.role));
  return order.map((l) => {
    const seen = ct.limits.get(limitKey(l.server, l.tool, l.argument, l.role));
    const calls = seen?.calls ?? 0;
    const max = seen ? seen.max : null;
    const status = calls < minCalls ? 'insufficient_evidence' : (max as number) < 0.9 * l.limit ? 'headroom' : 'used';
    return { ...l, calls, max_seen: max, status };
  });
}
