/** Policy: revision history, a revision's Rego sources, diffs, shadow status and divergences, reports. */
import { useState } from 'preact/hooks';
import { admin, query } from '../api.js';
import { go, href, type Route } from '../router.js';
import { ShadowSummary, type ShadowStatus } from './shadow.js';
import type { DiffFile, Revision, RevisionList, SourceFile } from '../types.js';
import { Loaded, Readable, Short, Time, sourceText, useAsync } from '../ui.js';

function activeHash(list: RevisionList): string | undefined {
  const a = list.active;
  return typeof a === 'string' ? a : (a?.content_hash ?? undefined);
}

/** One of the two revision pickers of the diff form. */
function RevisionSelect(p: { id: string; label: string; value: string; onChange: (v: string) => void; revisions: Revision[] }) {
  return (
    <div class="field">
      <label for={p.id}>{p.label}</label>
      <select id={p.id} value={p.value} onChange={(e) => p.onChange(e.currentTarget.value)} required>
        <option value="">choose…</option>
        {p.revisions.map((r) => (
          <option key={r.content_hash} value={r.content_hash}>
            {r.revision} ({r.content_hash.slice(0, 12)})
          </option>
        ))}
      </select>
    </div>
  );
}

function Revisions() {
  const state = useAsync(() => admin<RevisionList>('/revisions'), []);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  return (
    <Loaded state={state}>
      {(list) => {
        const active = activeHash(list);
        const withSources = list.revisions.filter((r) => r.has_sources !== false);
        return (
          <>
            <div class="table-wrap">
              <table data-testid="revisions">
                <caption class="sr-only">Revisions, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Revision</th>
                    <th scope="col">Content hash</th>
                    <th scope="col">Loaded</th>
                    <th scope="col">Source</th>
                    <th scope="col">Sources</th>
                  </tr>
                </thead>
                <tbody>
                  {list.revisions.map((r: Revision) => (
                    <tr key={r.content_hash}>
                      <td>
                        <code>{r.revision}</code> {(r.content_hash === active || r.revision === active) && <span class="badge allow">active</span>}
                      </td>
                      <td><Short value={r.content_hash} /></td>
                      <td><Time at={r.loaded_at} /></td>
                      <td>{sourceText(r.source)}</td>
                      <td>{r.has_sources === false ? <span class="muted">not kept</span> : <a href={href(['policy', 'sources', r.content_hash])}>View sources</a>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <form
              class="diff-form"
              aria-label="Compare two revisions"
              onSubmit={(e) => {
                e.preventDefault();
                go(['policy', 'diff'], { from, to });
              }}
            >
              <h2>Compare two revisions</h2>
              <RevisionSelect id="diff-from" label="From" value={from} onChange={setFrom} revisions={withSources} />
              <RevisionSelect id="diff-to" label="To" value={to} onChange={setTo} revisions={withSources} />
              <button type="submit" class="primary" disabled={!from || !to || from === to}>
                Show diff
              </button>
            </form>
          </>
        );
      }}
    </Loaded>
  );
}

function Sources({ hash }: { hash: string }) {
  const state = useAsync(() => admin<{ files: SourceFile[] }>(`/revisions/${encodeURIComponent(hash)}/sources`), [hash]);
  return (
    <>
      <p><a href={href(['policy'])}>← Revisions</a></p>
      <h2>Sources of <Short value={hash} /></h2>
      <Loaded state={state}>
        {({ files }) => (
          <>
            <nav aria-label="Files">
              <ul class="files">
                {files.map((f) => (
                  <li key={f.path}><a href={`#src-${encodeURIComponent(f.path)}`} onClick={(e) => { e.preventDefault(); document.getElementById(`src-${f.path}`)?.scrollIntoView(); }}>{f.path}</a></li>
                ))}
              </ul>
            </nav>
            {files.map((f) => (
              <section key={f.path} id={`src-${f.path}`} aria-label={f.path}>
                <h3><code>{f.path}</code></h3>
                <pre class="source">{f.content}</pre>
              </section>
            ))}
          </>
        )}
      </Loaded>
    </>
  );
}

function lineClass(l: string): string {
  if (l.startsWith('+++') || l.startsWith('---') || l.startsWith('Index:') || l.startsWith('====')) return 'd-head';
  if (l.startsWith('@@')) return 'd-hunk';
  if (l.startsWith('+')) return 'd-add';
  if (l.startsWith('-')) return 'd-del';
  return 'd-ctx';
}

function Diff({ from, to }: { from: string; to: string }) {
  const state = useAsync(() => admin<{ files: DiffFile[] }>(`/revisions/diff${query({ from, to })}`), [from, to]);
  return (
    <>
      <p><a href={href(['policy'])}>← Revisions</a></p>
      <h2>Diff <Short value={from} /> → <Short value={to} /></h2>
      <Loaded state={state}>
        {({ files }) =>
          files.length === 0 ? (
            <p class="muted">The two revisions have the same sources.</p>
          ) : (
            <div data-testid="diff">
              {files.map((f) => (
                <section key={f.path} class="diff-file" aria-label={`${f.path} (${f.status})`}>
                  <h3><code>{f.path}</code> <span class="badge">{f.status}</span></h3>
                  {f.patch === null ? (
                    <p class="muted">Too large to diff here; compare the sources of the two revisions instead.</p>
                  ) : (
                    <pre class="diff">
                      {f.patch.split('\n').map((l, i) => (
                        <span key={i} class={lineClass(l)}>{l}{'\n'}</span>
                      ))}
                    </pre>
                  )}
                </section>
              ))}
            </div>
          )
        }
      </Loaded>
    </>
  );
}

function Shadow() {
  const state = useAsync(() => admin<ShadowStatus>('/shadow'), []);
  return <Loaded state={state}>{(s) => <div data-testid="shadow"><ShadowSummary status={s} /></div>}</Loaded>;
}

interface ReportEntry {
  name: string;
  kind?: string;
  [k: string]: unknown;
}

function Reports() {
  const state = useAsync(() => admin<{ reports: ReportEntry[] } | ReportEntry[]>('/reports'), []);
  return (
    <Loaded state={state}>
      {(r) => {
        const reports = Array.isArray(r) ? r : (r.reports ?? []);
        if (reports.length === 0) return <p class="muted">No reports. <code>toolgate replay</code> and <code>toolgate privileges</code> write them.</p>;
        const cols = [...new Set(reports.flatMap((x) => Object.keys(x)))].filter((c) => c !== 'name');
        return (
          <div class="table-wrap">
            <table data-testid="reports">
              <thead>
                <tr>
                  <th scope="col">Report</th>
                  {cols.map((c) => <th scope="col" key={c}>{c}</th>)}
                </tr>
              </thead>
              <tbody>
                {reports.map((x) => (
                  <tr key={x.name}>
                    <td><a href={href(['policy', 'report', x.name])}>{x.name}</a></td>
                    {cols.map((c) => <td key={c}><Readable value={x[c] ?? ''} depth={3} /></td>)}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      }}
    </Loaded>
  );
}

function Report({ name }: { name: string }) {
  const state = useAsync(() => admin<unknown>(`/reports/${encodeURIComponent(name)}`), [name]);
  return (
    <>
      <p><a href={href(['policy'], { tab: 'reports' })}>← Reports</a></p>
      <h2>Report <code>{name}</code></h2>
      <Loaded state={state}>{(r) => <div data-testid="report"><Readable value={r} /></div>}</Loaded>
    </>
  );
}

const TABS = [
  ['revisions', 'Revisions'],
  ['shadow', 'Shadow'],
  ['reports', 'Reports'],
] as const;

/** The Policy view and its sub-pages (`#/policy/sources/<hash>`, `#/policy/diff?from&to`, `#/policy/report/<name>`). */
export function PolicyView({ route }: { route: Route }) {
  const [, sub, arg] = route.parts;
  let body;
  if (sub === 'sources' && arg) body = <Sources hash={arg} />;
  else if (sub === 'diff') body = <Diff from={route.params.get('from') ?? ''} to={route.params.get('to') ?? ''} />;
  else if (sub === 'report' && arg) body = <Report name={arg} />;
  else {
    const tab = route.params.get('tab') ?? 'revisions';
    body = (
      <>
        <nav class="tabs" aria-label="Policy sections">
          <ul>
            {TABS.map(([k, label]) => (
              <li key={k}>
                <a href={href(['policy'], { tab: k })} aria-current={tab === k ? 'page' : undefined}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
        {tab === 'shadow' ? <Shadow /> : tab === 'reports' ? <Reports /> : <Revisions />}
      </>
    );
  }
  return (
    <>
      <h1>Policy</h1>
      {body}
    </>
  );
}
