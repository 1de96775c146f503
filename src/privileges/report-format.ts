import type { CallerFindings, PrivilegesReport } from './privileges-report.js';

/** One titled table of a report. */
export interface Section {
  title: string;
  head: string[];
  rows: (string | number)[][];
}

const list = (xs: string[]): string => (xs.length ? xs.join(' ') : '-');

function unusedCell(c: CallerFindings): string {
  if (c.status === 'insufficient_evidence') return 'insufficient evidence';
  const u = [...c.unused.scopes.map((s) => `scope ${s}`), ...c.unused.roles.map((r) => `role ${r}`)];
  if (u.length === 0) return 'none';
  return c.unused_together === false ? `${u.join(', ')} (each alone, not all at once)` : u.join(', ');
}

function callerSection(title: string, callers: CallerFindings[]): Section {
  return {
    title,
    head: ['', 'calls', 'held scopes', 'held roles', 'needed scopes', 'needed roles', 'unused', 'list items', 'denied', 'masked', 'drift'],
    rows: callers.map((c) => [
      c.issuer ? `${c.id} (${c.issuer})` : c.id,
      c.calls,
      list(c.held.scopes),
      list(c.held.roles),
      list(c.needed.scopes),
      list(c.needed.roles),
      unusedCell(c),
      c.evidence.list_items,
      c.evidence.denied,
      c.evidence.masked,
      c.evidence.drift,
    ]),
  };
}

/** The report's tables, in the order every human format shows them. */
export function privilegeSections(r: PrivilegesReport): Section[] {
  const e = r.evidence;
  const out: Section[] = [
    callerSection('Clients (client_id)', r.clients),
    callerSection('Subjects (sub)', r.subjects),
    {
      title: 'Catalog tools allowed to someone, never called',
      head: ['server', 'tool', 'roles', 'holders', 'listed'],
      rows: (r.unused_tools ?? []).map((t) => [t.server, t.tool, list(t.roles), t.holders, t.listed]),
    },
    {
      title: 'Argument limits',
      head: ['tool', 'argument', 'role', 'limit', 'calls', 'max seen', 'finding'],
      rows: (r.limits ?? []).map((l) => [
        `${l.server}/${l.tool}`,
        l.argument,
        l.role ?? '(all)',
        l.limit,
        l.calls,
        l.max_seen ?? '-',
        l.status === 'headroom' ? 'never within 10% of the limit' : l.status === 'used' ? 'used' : 'insufficient evidence',
      ]),
    },
    {
      title: 'Evidence',
      head: ['', 'count'],
      rows: [
        ['allowed calls examined', e.allowed_calls],
        ['allowed list items examined', e.allowed_list_items],
        ['denied (not examined)', e.denied],
        ['masked (input masked before it was logged)', e.masked],
        ['drift (recorded allow, now denied; not examined)', e.drift],
        ['not replayable', e.not_replayable],
        ['unreadable lines', e.unreadable],
        ['filtered out', e.filtered_out],
        ['without a client id (subjects only)', e.without_client_id],
        ['distinct inputs', e.distinct_inputs],
        ['policy evaluations', e.evaluations],
      ],
    },
  ];
  if (r.suggestion) {
    out.push({ title: 'Suggested tightening (replayed: no allow→deny over the period)', head: ['', 'change'], rows: r.suggestion.changes.map((c, i) => [i + 1, c.why]) });
    out.push({ title: 'Withdrawn (replaying them denied allowed evaluations)', head: ['flips', 'change'], rows: r.suggestion.withdrawn.map((w) => [w.flips, w.why]) });
  }
  return out.filter((s) => s.rows.length > 0);
}

/** The lines every human format starts with. */
export function privilegeDescription(r: PrivilegesReport): string[] {
  const p = r.period;
  return [
    `policy ${r.policy.revision} (${r.policy.content_hash.slice(0, 19)}) from ${r.policy.location}`,
    `period ${p.since ?? 'start'} – ${p.until ?? 'end'}; events from ${p.first_event ?? '-'} to ${p.last_event ?? '-'}`,
    `${r.evidence.events} events from ${r.source.kind === 'files' ? `${r.source.location.length} file(s)` : r.source.location.join(' ')}; ${r.elapsed_ms} ms`,
    `unused = held in the period and needed by none of the caller's allowed evaluations; needs ${r.min_calls} allowed calls (--min-calls)`,
  ];
}

/** What the findings cannot know, in every human format. */
export function privilegeCaveats(r: PrivilegesReport): string[] {
  const e = r.evidence;
  const out: string[] = [];
  if (e.masked) out.push(`${e.masked} evaluation(s) ran on masked input: a scope or role a masked field hid can look unneeded.`);
  if (e.not_replayable) out.push(`${e.not_replayable} event(s) are not replayable (erased input, token failures, refused authentications) and count for nothing.`);
  if (e.drift) out.push(`${e.drift} recorded allow(s) are denied by this policy when replayed (another revision decided them, or masking changed the input): not examined.`);
  if (r.suggestion?.file) out.push(`Suggested data patch written to ${r.suggestion.file}; check it with toolgate replay <policy> --baseline <policy> --data-patch ${r.suggestion.file}.`);
  out.push('Events a decision-log sink dropped never reached the log: see the toolgate_decision_log_events{state="dropped"} gauge of each instance.');
  return out;
}

/** A plain-text table for the terminal. */
export function formatPrivilegesTable(r: PrivilegesReport): string {
  const lines = [...privilegeDescription(r), ''];
  for (const s of privilegeSections(r)) {
    const cells = [s.head, ...s.rows].map((row) => row.map(String));
    const widths = s.head.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
    lines.push(s.title);
    cells.forEach((c, n) => {
      lines.push('  ' + c.map((v, i) => (typeof s.rows[0]?.[i] === 'number' && i > 0 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd());
      if (n === 0) lines.push('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
    });
    lines.push('');
  }
  lines.push(...privilegeCaveats(r));
  return lines.join('\n').trimEnd() + '\n';
}

/** JSON, the stable shape of PrivilegesReport. */
export function formatPrivilegesJson(r: PrivilegesReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}
