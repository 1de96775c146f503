/** Decisions: filter the recent decision log (file sink or Postgres store), page through it, open one. */
import { useState } from 'preact/hooks';
import { admin, query } from '../api.js';
import { href, type Route } from '../router.js';
import { whoami } from '../session.js';
import type { DecisionDetail, DecisionPage } from '../types.js';
import { Loaded, Readable, Short, Time, useAsync } from '../ui.js';

const FILTERS = ['since', 'until', 'server', 'tool', 'subject', 'code', 'revision', 'result'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number] | 'before' | 'limit', string>>;

function filtersOf(params: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of [...FILTERS, 'before', 'limit'] as const) {
    const v = params.get(k);
    if (v) f[k] = v;
  }
  return f;
}

/** `datetime-local` values are local time without a zone; the API wants ISO instants. */
function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const off = d.getTimezoneOffset() * 60_000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

/** Whether two hashes name the same route with the same parameters (in any order). */
function sameRoute(a: string, b: string): boolean {
  const norm = (h: string) => {
    const [p, q] = h.replace(/^#\/?/, '').split('?', 2);
    const params = [...new URLSearchParams(q ?? '')].sort(([x], [y]) => x.localeCompare(y));
    return `${p}?${new URLSearchParams(params)}`;
  };
  return norm(a) === norm(b);
}

function FilterForm({ current, onSame }: { current: Filters; onSame: () => void }) {
  const [f, setF] = useState<Filters>({ ...current, since: toLocalInput(current.since), until: toLocalInput(current.until) });
  const field = (k: keyof Filters, label: string, type = 'text') => (
    <div class="field">
      <label for={`f-${k}`}>{label}</label>
      <input id={`f-${k}`} name={k} type={type} value={f[k] ?? ''} onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })} />
    </div>
  );
  return (
    <form
      class="filters"
      aria-label="Filter decisions"
      onSubmit={(e) => {
        e.preventDefault();
        const target = href(['decisions'], { ...f, since: toIso(f.since ?? ''), until: toIso(f.until ?? ''), before: undefined });
        // The same filters again mean "look again": no hash change, so reload explicitly.
        if (sameRoute(target, location.hash)) onSame();
        else location.hash = target;
      }}
    >
      {field('since', 'From', 'datetime-local')}
      {field('until', 'To', 'datetime-local')}
      {field('server', 'Server')}
      {field('tool', 'Tool')}
      {field('subject', 'Subject (or fingerprint)')}
      {field('code', 'Code')}
      {field('revision', 'Revision')}
      <div class="field">
        <label for="f-result">Result</label>
        <select id="f-result" name="result" value={f.result ?? ''} onChange={(e) => setF({ ...f, result: e.currentTarget.value })}>
          <option value="">any</option>
          <option value="allow">allow</option>
          <option value="deny">deny</option>
        </select>
      </div>
      <div class="field">
        <label for="f-limit">Per page</label>
        <select id="f-limit" name="limit" value={f.limit ?? '50'} onChange={(e) => setF({ ...f, limit: e.currentTarget.value === '50' ? undefined : e.currentTarget.value })}>
          {['10', '25', '50', '100', '200'].map((n) => (
            <option key={n} value={n}>{n}</option>
          ))}
        </select>
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <a href={href(['decisions'])}>Clear</a>
      </div>
    </form>
  );
}

/** Pages loaded so far; `data-seq` exposes it so a reader (or a test) can tell a fresh answer from the previous one. */
let loads = 0;

function DecisionList({ filters }: { filters: Filters }) {
  const key = JSON.stringify(filters);
  const state = useAsync(async () => ({ ...(await admin<DecisionPage>(`/decisions${query({ limit: 50, ...filters })}`)), seq: ++loads }), [key]);
  return (
    <Loaded state={state}>
      {(page) => (
        <>
          <p class="muted" data-testid="decisions-source" data-seq={page.seq}>
            {page.decisions.length} shown from the {page.source}
            {page.scanned !== undefined ? `, ${page.scanned} scanned` : ''}
            {page.truncated ? ' (the scan stopped at its bound; narrow the time range for older events)' : ''}.
          </p>
          <div class="table-wrap">
            <table class="decisions">
              <caption class="sr-only">Decisions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Result</th>
                  <th scope="col">Code</th>
                  <th scope="col">Server</th>
                  <th scope="col">Tool</th>
                  <th scope="col">Action</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Client</th>
                  <th scope="col">Shadow</th>
                  <th scope="col">Revision</th>
                  <th scope="col">ms</th>
                </tr>
              </thead>
              <tbody>
                {page.decisions.map((d) => (
                  <tr key={d.decision_id} data-decision={d.decision_id}>
                    <td>
                      <a href={href(['decisions', d.decision_id])}>
                        <Time at={d.at} />
                      </a>
                    </td>
                    <td>
                      <span class={`badge ${d.result}`}>{d.result}</span>
                    </td>
                    <td>{d.code ?? ''}</td>
                    <td>{d.server ?? ''}</td>
                    <td class="tool">{d.tool ?? ''}</td>
                    <td>{d.action ?? ''}</td>
                    <td><Short value={d.subject} /></td>
                    <td><Short value={d.client_id} /></td>
                    <td>{d.shadow ?? ''}</td>
                    <td>{d.revision ?? ''}</td>
                    <td class="num">{d.duration_ms == null ? '' : d.duration_ms.toFixed(2)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.decisions.length === 0 && <p class="muted">No decision matches.</p>}
          <nav class="pager" aria-label="Pages">
            {filters.before && <a href={href(['decisions'], { ...filters, before: undefined })}>Newest</a>}
            {page.next_before && <a href={href(['decisions'], { ...filters, before: page.next_before })}>Older</a>}
          </nav>
        </>
      )}
    </Loaded>
  );
}

/** Decision timers (`timer_*_ns`) in milliseconds; other metrics as they are. */
function Timings({ metrics }: { metrics: Record<string, number> }) {
  const entries = Object.entries(metrics);
  if (entries.length === 0) return <p class="muted">None recorded.</p>;
  return (
    <dl class="readable" data-testid="detail-timings">
      {entries.map(([k, v]) => {
        const ns = /^timer_(.+)_ns$/.exec(k);
        return (
          <div key={k}>
            <dt>{ns ? ns[1].replace(/_/g, ' ') : k}</dt>
            <dd>{ns && typeof v === 'number' ? `${(v / 1e6).toFixed(3)} ms` : String(v)}</dd>
          </div>
        );
      })}
    </dl>
  );
}

/** Shortcuts to the Revocations form, prefilled with this caller (the operator still reviews and submits). */
function RevokeLinks({ token }: { token?: { subject?: string; issuer?: string; client_id?: string; jti?: string } }) {
  if (!token || !whoami()?.can_admin) return null;
  const links: [string, string, string][] = [];
  if (token.subject) links.push(['sub', token.subject, `Revoke subject ${token.subject}…`]);
  if (token.client_id) links.push(['client_id', token.client_id, 'Revoke this client…']);
  if (token.jti) links.push(['jti', token.jti, 'Revoke this token…']);
  if (links.length === 0) return null;
  return (
    <p class="actions">
      {links.map(([kind, value, label]) => (
        <a key={kind} href={href(['revocations'], { kind, value, issuer: token.issuer })}>{label}</a>
      ))}
    </p>
  );
}

function reasonsOf(result: unknown): string[] {
  const r = result && typeof result === 'object' ? (result as { reasons?: unknown }).reasons : undefined;
  return Array.isArray(r) ? r.map(String) : [];
}

function DecisionDetailView({ id }: { id: string }) {
  const state = useAsync(() => admin<DecisionDetail>(`/decisions/${encodeURIComponent(id)}`), [id]);
  return (
    <>
      <p>
        <a href={href(['decisions'])}>← All decisions</a>
      </p>
      <h1>Decision <code>{id}</code></h1>
      <Loaded state={state}>
        {({ event, shadow }) => {
          const e = event as Record<string, unknown> & {
            outcome?: { allow?: boolean; code?: string; http_status?: number };
            bundles?: { toolgate?: { revision?: string | null; content_hash?: string } };
          };
          const reasons = reasonsOf(e.result);
          const allow = e.outcome?.allow;
          return (
            <div class="grid">
              <section class="card" aria-labelledby="d-outcome">
                <h2 id="d-outcome">Outcome</h2>
                <p>
                  <span class={`badge ${allow ? 'allow' : 'deny'}`} data-testid="detail-result">
                    {allow ? 'allow' : 'deny'}
                  </span>{' '}
                  {e.outcome?.code && <code data-testid="detail-code">{e.outcome.code}</code>} <Time at={e.timestamp as string} />
                </p>
                <h3>Reasons</h3>
                {reasons.length ? (
                  <ul data-testid="detail-reasons">
                    {reasons.map((r, i) => (
                      <li key={i}>{r}</li>
                    ))}
                  </ul>
                ) : (
                  <p class="muted">None given.</p>
                )}
                <h3>Revision</h3>
                <p>
                  <code>{e.bundles?.toolgate?.revision ?? (e.revision as string) ?? '—'}</code> <Short value={e.bundles?.toolgate?.content_hash} />
                </p>
                <h3>Timings</h3>
                <Timings metrics={(e.metrics ?? {}) as Record<string, number>} />
              </section>
              <section class="card" aria-labelledby="d-shadow">
                <h2 id="d-shadow">Shadow outcome</h2>
                {shadow ? (
                  <div data-testid="detail-shadow">
                    <Readable value={shadow} />
                    <p><a href={href(['policy'], { tab: 'shadow' })}>Shadow status and divergences</a></p>
                  </div>
                ) : (
                  <p class="muted">This decision was not evaluated by a shadow candidate.</p>
                )}
                <h2>Caller</h2>
                <Readable value={{ ...(e.token as object), requested_by: e.requested_by }} />
                <RevokeLinks token={e.token as { subject?: string; issuer?: string; client_id?: string; jti?: string } | undefined} />
              </section>
              <section class="card wide" aria-labelledby="d-input">
                <h2 id="d-input">Input (masked)</h2>
                {Array.isArray(e.masked) && e.masked.length > 0 && <p class="muted">Masked: {(e.masked as string[]).join(', ')}</p>}
                {Array.isArray(e.erased) && e.erased.length > 0 && <p class="muted">Erased: {(e.erased as string[]).join(', ')}</p>}
                <Readable value={e.input ?? {}} />
              </section>
              <section class="card wide" aria-labelledby="d-result">
                <h2 id="d-result">Policy result</h2>
                <Readable value={e.result ?? null} />
              </section>
            </div>
          );
        }}
      </Loaded>
    </>
  );
}

/** The Decisions view: list with filters, or one decision's detail (`#/decisions/<id>`). */
export function DecisionsView({ route }: { route: Route }) {
  const [nonce, setNonce] = useState(0);
  const id = route.parts[1];
  if (id) return <DecisionDetailView id={id} />;
  const filters = filtersOf(route.params);
  return (
    <>
      <h1>Decisions</h1>
      <FilterForm key={JSON.stringify(filters)} current={filters} onSame={() => setNonce((n) => n + 1)} />
      <DecisionList key={nonce} filters={filters} />
    </>
  );
}
