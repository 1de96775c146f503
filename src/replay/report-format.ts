import { CHANGE_KINDS, type ChangeCounts, type ChangeKind, type ReplayReport } from './replay.js';

/** The top-level counts every format leads with (and `--format json` carries at its top level). */
export function headline(r: ReplayReport): [string, number][] {
  return [
    ['replayed', r.replayed],
    ['same', r.same],
    ['allow_to_deny', r.allow_to_deny],
    ['deny_to_allow', r.deny_to_allow],
    ['code_changed', r.code_changed],
    ['reasons_changed', r.reasons_changed],
    ['masked (evaluated on masked input)', r.masked],
    ['not_replayable', r.not_replayable],
    ['baseline_drift', r.baseline_drift],
  ];
}

const LABEL: Record<ChangeKind, string> = {
  allow_to_deny: 'allow→deny',
  deny_to_allow: 'deny→allow',
  code_changed: 'code changed',
  reasons_changed: 'reasons changed',
};

function total(c: ChangeCounts): number {
  return CHANGE_KINDS.reduce((n, k) => n + (c[k] ?? 0), 0);
}

/** Breakdown rows, most changes first. */
export function breakdownRows(map: Record<string, ChangeCounts>, limit = 20): [string, ...number[]][] {
  return Object.entries(map)
    .sort((a, b) => total(b[1]) - total(a[1]) || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([k, c]) => [k, ...CHANGE_KINDS.map((kind) => c[kind] ?? 0)]);
}

function topEntries(map: Record<string, number>, limit = 10): [string, number][] {
  return Object.entries(map)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit);
}

function sections(r: ReplayReport): { title: string; head: string[]; rows: (string | number)[][] }[] {
  const changeHead = ['', ...CHANGE_KINDS.map((k) => LABEL[k])];
  const out = [
    { title: 'Totals', head: ['', 'count'], rows: headline(r) as (string | number)[][] },
    { title: 'By server', head: changeHead, rows: breakdownRows(r.by_server) },
    { title: 'By tool', head: changeHead, rows: breakdownRows(r.by_tool) },
    { title: 'By role', head: changeHead, rows: breakdownRows(r.by_role) },
    { title: 'By scope', head: changeHead, rows: breakdownRows(r.by_scope) },
    {
      title: 'Subjects affected (distinct)',
      head: ['', 'subjects', ...(r.subject_list ? ['who'] : [])],
      rows: CHANGE_KINDS.filter((k) => r.subjects[k]).map((k) => [LABEL[k], r.subjects[k] ?? 0, ...(r.subject_list ? [(r.subject_list[k] ?? []).join(', ')] : [])]),
    },
    { title: 'Codes (baseline → candidate)', head: ['', 'count'], rows: topEntries(r.codes) },
    { title: 'Reasons added', head: ['', 'count'], rows: topEntries(r.reasons.added) },
    { title: 'Reasons removed', head: ['', 'count'], rows: topEntries(r.reasons.removed) },
    { title: 'Not replayable, by reason', head: ['', 'count'], rows: topEntries(r.not_replayable_by_reason as Record<string, number>) },
    {
      title: 'Sample decision ids',
      head: ['', 'decision ids'],
      rows: Object.entries(r.samples).map(([k, ids]) => [LABEL[k as ChangeKind] ?? k, ids.join(' ')]),
    },
  ];
  return out.filter((s) => s.rows.length > 0);
}

function describe(r: ReplayReport): string[] {
  return [
    `candidate ${r.candidate.revision} (${r.candidate.content_hash.slice(0, 19)}) from ${r.candidate.location}`,
    `baseline  ${r.baseline.revision} (${r.baseline.content_hash.slice(0, 19)}) from ${r.baseline.location}`,
    `${r.events} events in ${r.files.length} file(s), ${r.filtered_out} filtered out, ${r.unreadable} unreadable; ${r.elapsed_ms} ms`,
    ...(r.other_tools ? [otherToolsLine(r.other_tools)] : []),
  ];
}

/** What a `--tool` filter left out of the details: said, with its own counts. */
function otherToolsLine(o: NonNullable<ReplayReport['other_tools']>): string {
  return (
    `--tool ${o.tools.join(',')}: the counts below are for these only; ${o.replayed} evaluation(s) of other subjects were replayed too ` +
    `(${o.same} same, ${o.allow_to_deny} allow→deny, ${o.deny_to_allow} deny→allow, ${o.code_changed} code changed, ${o.reasons_changed} reasons changed, ` +
    `${o.baseline_drift} baseline drift), not counted against --max-flips`
  );
}

/** Notes on what replay cannot know, in every human format. */
function caveats(r: ReplayReport): string[] {
  const out: string[] = [];
  if (r.masked) out.push(`${r.masked} evaluation(s) ran on masked input (${r.masked_changed} of them changed): the policies saw masked values, not the originals.`);
  if (r.not_replayable) out.push(`${r.not_replayable} event(s) are not replayable (erased input, token failures, or no policy ran).`);
  if (r.baseline_drift) out.push(`${r.baseline_drift} evaluation(s) show baseline drift: the baseline, replayed, does not answer what was recorded (a different revision decided, or the policy depends on something beyond its input).`);
  const o = r.other_tools;
  if (o && o.allow_to_deny + o.deny_to_allow > 0) {
    out.push(`Outside --tool ${o.tools.join(',')}: ${o.allow_to_deny} allow→deny and ${o.deny_to_allow} deny→allow flip(s) that this report does not detail; replay without --tool to see them.`);
  }
  if (r.subjects_truncated) out.push('More than 100,000 distinct subjects changed in one kind: subject counts are lower bounds.');
  return out;
}

/** A plain-text table for the terminal. */
export function formatTable(r: ReplayReport): string {
  const lines = [...describe(r), ''];
  for (const s of sections(r)) {
    const cells = [s.head, ...s.rows].map((row) => row.map(String));
    const widths = s.head.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
    lines.push(s.title);
    cells.forEach((c, n) => {
      lines.push('  ' + c.map((v, i) => (i === 0 || typeof s.rows[0]?.[i] === 'string' ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ').trimEnd());
      if (n === 0) lines.push('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
    });
    lines.push('');
  }
  lines.push(...caveats(r));
  return lines.join('\n').trimEnd() + '\n';
}

function mdCell(v: string | number): string {
  return String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Markdown for a pull-request comment. */
export function formatMarkdown(r: ReplayReport): string {
  const flips = r.allow_to_deny + r.deny_to_allow;
  const lines = [
    `### toolgate replay: ${flips === 0 ? 'no flips' : `${r.allow_to_deny} allow→deny, ${r.deny_to_allow} deny→allow`}`,
    '',
    ...describe(r).map((l) => `- ${l.replace(/\s+/g, ' ')}`),
    '',
  ];
  for (const s of sections(r)) {
    lines.push(`**${s.title}**`, '', `| ${s.head.map(mdCell).join(' | ')} |`, `|${s.head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const row of s.rows) lines.push(`| ${row.map((v, i) => (s.title === 'Sample decision ids' && i === 1 ? `\`${v}\`` : mdCell(v))).join(' | ')} |`);
    lines.push('');
  }
  for (const c of caveats(r)) lines.push(`> ${c}`, '');
  return lines.join('\n').trimEnd() + '\n';
}

/** JSON: the headline counts at the top level, then the details. */
export function formatJson(r: ReplayReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}

export { sections as reportSections, describe as reportDescription, caveats as reportCaveats };
