/** Overview: decision rates, the active revision, the last failed activation, token cache, JWKS and shadow health. */
import { useEffect } from 'preact/hooks';
import { admin } from '../api.js';
import { href } from '../router.js';
import type { Overview, Problem } from '../types.js';
import { Loaded, Readable, Short, Time, sourceText, useAsync } from '../ui.js';
import { RateChart } from './rate-chart.js';
import { ShadowSummary, type ShadowStatus } from './shadow.js';

function where(p: Problem): string {
  const line = p.line ?? p.row;
  return p.file ? `${p.file}${line ? `:${line}` : ''}${p.col ? `:${p.col}` : ''}` : '';
}

function Failure({ failure }: { failure: NonNullable<Overview['last_failure']> }) {
  const problems = failure.problems ?? [];
  return (
    <div class="failure" data-testid="last-failure">
      <p>
        <strong>Failed</strong> <Time at={failure.at} />
        {failure.step ? ` at ${failure.step}` : ''}
        {failure.code ? ` (${failure.code})` : ''}
        {failure.message ? `: ${failure.message}` : ''}
      </p>
      {problems.length > 0 && (
        <ul>
          {problems.map((p, i) =>
            typeof p === 'string' ? (
              <li key={i}>{p}</li>
            ) : (
              <li key={i}>
                {where(p) && <code>{where(p)}</code>} {p.code ? `[${p.code}] ` : ''}
                {p.message}
              </li>
            ),
          )}
        </ul>
      )}
    </div>
  );
}

/** The Overview view; refreshes every 10 s while open. */
export function OverviewView() {
  const state = useAsync(() => admin<Overview>('/overview'), []);
  useEffect(() => {
    const id = setInterval(state.reload, 10_000);
    return () => clearInterval(id);
  }, [state.reload]);
  return (
    <>
      <div class="title-row">
        <h1>Overview</h1>
        <button type="button" onClick={state.reload}>
          Refresh
        </button>
      </div>
      <Loaded state={state}>
        {(o) => {
          const totals = o.rates.buckets.reduce(
            (acc, b) => {
              acc.allow += b.allow;
              for (const [c, n] of Object.entries(b.deny ?? {})) acc.deny[c] = (acc.deny[c] ?? 0) + n;
              return acc;
            },
            { allow: 0, deny: {} as Record<string, number> },
          );
          const denied = Object.values(totals.deny).reduce((a, n) => a + n, 0);
          const span = o.rates.buckets.length * o.rates.bucket_s;
          return (
            <div class="grid">
              <section class="card wide" aria-labelledby="rates-title">
                <h2 id="rates-title">Decisions per second</h2>
                <p class="muted">
                  {totals.allow + denied} decisions in the last {Math.round(span / 60)} min ({o.rates.bucket_s} s buckets): {totals.allow} allowed, {denied} denied
                  {denied > 0 && ` (${Object.entries(totals.deny).map(([c, n]) => `${c} ${n}`).join(', ')})`}.
                </p>
                {o.rates.buckets.length > 0 ? <RateChart buckets={o.rates.buckets} bucketS={o.rates.bucket_s} /> : <p class="muted">No decisions yet.</p>}
              </section>
              <section class="card" aria-labelledby="rev-title">
                <h2 id="rev-title">Active revision</h2>
                {o.revision ? (
                  <dl class="readable" data-testid="active-revision">
                    <div><dt>revision</dt><dd><code>{o.revision.label ?? o.revision.revision ?? '—'}</code></dd></div>
                    <div><dt>content hash</dt><dd><Short value={o.revision.content_hash} /></dd></div>
                    <div><dt>loaded at</dt><dd><Time at={o.revision.loaded_at} /></dd></div>
                    {o.revision.source && <div><dt>from</dt><dd>{sourceText(o.revision.source)}</dd></div>}
                  </dl>
                ) : (
                  <p class="error">No policy is active: every decision is denied.</p>
                )}
                <p><a href={href(['policy'])}>Revision history and diffs</a></p>
              </section>
              <section class="card" aria-labelledby="fail-title">
                <h2 id="fail-title">Last failed activation</h2>
                {o.last_failure ? <Failure failure={o.last_failure} /> : <p class="muted">None since start.</p>}
                {o.warnings && o.warnings.length > 0 && (
                  <>
                    <h3>Warnings</h3>
                    <ul>{o.warnings.map((w, i) => <li key={i}>{w}</li>)}</ul>
                  </>
                )}
              </section>
              <section class="card" aria-labelledby="cache-title">
                <h2 id="cache-title">Token cache</h2>
                {o.token_cache ? <Readable value={o.token_cache} /> : <p class="muted">Not reported.</p>}
              </section>
              <section class="card wide" aria-labelledby="jwks-title">
                <h2 id="jwks-title">JWKS</h2>
                {o.jwks.length ? <Readable value={o.jwks} /> : <p class="muted">No remote key sets.</p>}
              </section>
              {o.shadow && (
                <section class="card wide" aria-labelledby="shadow-title">
                  <h2 id="shadow-title">Shadow</h2>
                  <ShadowSummary status={o.shadow as ShadowStatus} limit={5} />
                  <p><a href={href(['policy'], { tab: 'shadow' })}>All recent divergences</a></p>
                </section>
              )}
            </div>
          );
        }}
      </Loaded>
    </>
  );
}
