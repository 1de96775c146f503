/** Small shared pieces: async loading, errors, times, readable JSON. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** State of one asynchronous load. */
export interface Async<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `fn` when `deps` change (and on reload()); the latest answer wins. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** A revision's source as text (`bundle: build/bundle.tar.gz`). */
export function sourceText(s: unknown): string {
  if (!s) return '';
  if (typeof s === 'string') return s;
  const o = s as { kind?: string; location?: string };
  return [o.kind, o.location].filter(Boolean).join(': ');
}

/** A message for any thrown value; API errors show their status and code. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) return `${e.status} ${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** An error announced to assistive technology. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {describeError(error)}
    </p>
  );
}

/** Renders loading, error or the children of a loaded value. */
export function Loaded<T>({ state, children }: { state: Async<T>; children: (data: T) => ComponentChildren }) {
  if (state.error) return <ErrorBox error={state.error} />;
  if (state.data === null) return <p class="muted" aria-busy="true">Loading…</p>;
  return <>{children(state.data)}</>;
}

/** An ISO time or epoch (seconds or ms) in the browser's locale, with the ISO form as tooltip. */
export function Time({ at }: { at: string | number | undefined | null }) {
  if (at === undefined || at === null || at === '') return <span class="muted">—</span>;
  const d = typeof at === 'number' ? new Date(at < 1e12 ? at * 1000 : at) : new Date(at);
  if (Number.isNaN(d.getTime())) return <span>{String(at)}</span>;
  return (
    <time dateTime={d.toISOString()} title={d.toISOString()}>
      {d.toLocaleString()}
    </time>
  );
}

/** The first 12 characters of a hash, the full value as tooltip. */
export function Short({ value }: { value: string | undefined | null }) {
  if (!value) return <span class="muted">—</span>;
  return (
    <code title={value}>{value.length > 14 ? `${value.slice(0, 12)}…` : value}</code>
  );
}

function isScalar(v: unknown): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/**
 * JSON rendered for reading: objects as definition lists, arrays of flat
 * objects as tables, everything else as text; deep values fall back to
 * indented JSON.
 */
export function Readable({ value, depth = 0 }: { value: unknown; depth?: number }) {
  if (isScalar(value)) return <span class={`v-${value === null ? 'null' : typeof value}`}>{value === null ? 'null' : String(value)}</span>;
  if (depth > 4) return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span class="muted">(none)</span>;
    if (value.every(isScalar)) return <span>{value.map((v) => String(v)).join(', ')}</span>;
    const objects = value.every((v) => v && typeof v === 'object' && !Array.isArray(v));
    if (objects) {
      const cols = [...new Set(value.flatMap((v) => Object.keys(v as object)))];
      const flat = value.every((v) => Object.values(v as object).every((x) => isScalar(x) || (Array.isArray(x) && x.every(isScalar))));
      if (flat && cols.length <= 10) {
        return (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>{cols.map((c) => <th scope="col" key={c}>{c}</th>)}</tr>
              </thead>
              <tbody>
                {value.map((row, i) => (
                  <tr key={i}>{cols.map((c) => <td key={c}><Readable value={(row as Record<string, unknown>)[c] ?? ''} depth={depth + 1} /></td>)}</tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      }
    }
    return (
      <ol class="readable-list">
        {value.map((v, i) => <li key={i}><Readable value={v} depth={depth + 1} /></li>)}
      </ol>
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return <span class="muted">(empty)</span>;
  return (
    <dl class="readable">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd><Readable value={v} depth={depth + 1} /></dd>
        </div>
      ))}
    </dl>
  );
}
