/** The shadow candidate's status: what it is, how often it agreed, and the latest divergences (each linked to its decision). */
import { href } from '../router.js';
import { Readable, Short, Time, sourceText } from '../ui.js';

interface Divergence {
  decision_id?: string;
  at?: string;
  result?: string;
  server?: string;
  tool?: string;
  active?: { allow?: boolean; code?: string };
  shadow?: { allow?: boolean; code?: string };
}

/** Shape of /v1/admin/shadow (and overview.shadow); unknown fields are shown as they come. */
export interface ShadowStatus {
  enabled?: boolean;
  sample_rate?: number;
  candidate?: { revision?: string; content_hash?: string; loaded_at?: string; source?: unknown } | null;
  last_failure?: unknown;
  since?: string;
  counts?: Record<string, number>;
  last_divergences?: Divergence[];
}

const outcome = (o: { allow?: boolean; code?: string } | undefined) => (o ? (o.allow ? 'allow' : `deny${o.code ? ` (${o.code})` : ''}`) : '');

/** Summary of the candidate and its divergences; `limit` bounds the rows shown. */
export function ShadowSummary({ status, limit }: { status: ShadowStatus; limit?: number }) {
  if (status.enabled === false) return <p class="muted">No shadow candidate is configured (policy.shadow).</p>;
  const c = status.candidate;
  const divergences = (status.last_divergences ?? []).slice(0, limit ?? Infinity);
  return (
    <div class="shadow">
      <dl class="readable">
        <div><dt>candidate</dt><dd>{c ? <><code>{c.revision}</code> <Short value={c.content_hash} /> {sourceText(c.source)}</> : <span class="error">none loaded</span>}</dd></div>
        {c?.loaded_at && <div><dt>loaded at</dt><dd><Time at={c.loaded_at} /></dd></div>}
        <div><dt>sample rate</dt><dd>{status.sample_rate ?? '—'}</dd></div>
        <div><dt>since</dt><dd><Time at={status.since} /></dd></div>
        <div><dt>outcomes</dt><dd>{Object.entries(status.counts ?? {}).map(([k, n]) => `${k.replace(/_to_/g, '→')} ${n}`).join(' · ') || '—'}</dd></div>
        {status.last_failure ? <div><dt>last failure</dt><dd><Readable value={status.last_failure} /></dd></div> : null}
      </dl>
      <h3>Latest divergences</h3>
      {divergences.length === 0 ? (
        <p class="muted">None: the candidate agreed with every sampled decision.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Change</th>
                <th scope="col">Server</th>
                <th scope="col">Tool</th>
                <th scope="col">Active</th>
                <th scope="col">Candidate</th>
              </tr>
            </thead>
            <tbody>
              {divergences.map((d, i) => (
                <tr key={d.decision_id ?? i}>
                  <td>{d.decision_id ? <a href={href(['decisions', d.decision_id])}><Time at={d.at} /></a> : <Time at={d.at} />}</td>
                  <td>{d.result}</td>
                  <td>{d.server ?? ''}</td>
                  <td>{d.tool ?? ''}</td>
                  <td>{outcome(d.active)}</td>
                  <td>{outcome(d.shadow)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
