/** Revocations: list, add (jti / sub / client_id, optionally only tokens issued before a time) and delete with confirmation. */
import { useState } from 'preact/hooks';
import { call } from '../api.js';
import type { Route } from '../router.js';
import type { Revocation, WhoAmI } from '../types.js';
import { ErrorBox, Loaded, Time, useAsync } from '../ui.js';

const KINDS = [
  ['sub', 'Subject (sub)'],
  ['client_id', 'Client (client_id)'],
  ['jti', 'One token (jti)'],
] as const;

function AddForm({ canAdmin, onAdded, prefill }: { canAdmin: boolean; onAdded: () => void; prefill: URLSearchParams }) {
  const initialKind = prefill.get('kind');
  const [kind, setKind] = useState<Revocation['kind']>(initialKind === 'jti' || initialKind === 'client_id' ? initialKind : 'sub');
  const [value, setValue] = useState(prefill.get('value') ?? '');
  const [before, setBefore] = useState('');
  const [issuer, setIssuer] = useState(prefill.get('issuer') ?? '');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="revoke"
      aria-labelledby="add-title"
      onSubmit={(e) => {
        e.preventDefault();
        const body: Record<string, unknown> = { kind, value: value.trim() };
        if (before) body.issued_before = Math.floor(new Date(before).getTime() / 1000);
        if (issuer.trim()) body.issuer = issuer.trim();
        if (reason.trim()) body.reason = reason.trim();
        setBusy(true);
        setError(null);
        setDone('');
        call<Revocation>('POST', '/v1/revocations', body)
          .then((r) => {
            setDone(`Revoked ${r.kind} ${r.value}; effective on the next decision.`);
            setValue('');
            setReason('');
            setBefore('');
            onAdded();
          })
          .catch((err: unknown) => setError(err))
          .finally(() => setBusy(false));
      }}
    >
      <h2 id="add-title">Add a revocation</h2>
      {!canAdmin && <p class="notice">Your token has read access only (toolgate:read); changing revocations needs toolgate:admin.</p>}
      <fieldset disabled={!canAdmin || busy}>
        <legend class="sr-only">Revocation</legend>
        <div class="field">
          <label for="r-kind">Kind</label>
          <select id="r-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Revocation['kind'])}>
            {KINDS.map(([k, label]) => (
              <option key={k} value={k}>{label}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="r-value">Value</label>
          <input id="r-value" required maxLength={1024} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="r-before">Only tokens issued before (optional)</label>
          <input id="r-before" type="datetime-local" value={before} onInput={(e) => setBefore(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="r-issuer">Issuer (optional)</label>
          <input id="r-issuer" value={issuer} onInput={(e) => setIssuer(e.currentTarget.value)} />
        </div>
        <div class="field wide">
          <label for="r-reason">Reason</label>
          <input id="r-reason" maxLength={1024} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <div class="actions">
          <button type="submit" class="danger">Revoke</button>
        </div>
      </fieldset>
      <ErrorBox error={error} />
      {done && <p class="ok" role="status">{done}</p>}
    </form>
  );
}

function Row({ r, canAdmin, onDeleted, onError }: { r: Revocation; canAdmin: boolean; onDeleted: () => void; onError: (e: unknown) => void }) {
  const [confirming, setConfirming] = useState(false);
  return (
    <tr data-revocation={r.id}>
      <td>{r.kind}</td>
      <td><code>{r.value}</code></td>
      <td>{r.issued_before ? <Time at={r.issued_before} /> : <span class="muted">every token</span>}</td>
      <td>{r.issuer ?? <span class="muted">any</span>}</td>
      <td>{r.reason ?? ''}</td>
      <td><Time at={r.created_at} /></td>
      <td>
        {!confirming ? (
          <button type="button" disabled={!canAdmin} onClick={() => setConfirming(true)} aria-label={`Delete revocation of ${r.kind} ${r.value}`}>
            Delete
          </button>
        ) : (
          <span role="group" aria-label="Confirm deletion">
            Delete this revocation?{' '}
            <button
              type="button"
              class="danger"
              onClick={() => {
                call<void>('DELETE', `/v1/revocations/${encodeURIComponent(r.id)}`)
                  .then(onDeleted)
                  .catch((e: unknown) => {
                    setConfirming(false);
                    onError(e);
                  });
              }}
            >
              Yes, delete
            </button>{' '}
            <button type="button" onClick={() => setConfirming(false)}>Cancel</button>
          </span>
        )}
      </td>
    </tr>
  );
}

/** The Revocations view (`#/revocations?kind=sub&value=…&issuer=…` prefills the form); controls that change anything are disabled without `can_admin`, and the server's 403 is shown when it answers one anyway. */
export function RevocationsView({ who, route }: { who: WhoAmI; route: Route }) {
  const state = useAsync(() => call<{ revocations: Revocation[] }>('GET', '/v1/revocations'), []);
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <h1>Revocations</h1>
      <AddForm key={route.params.toString()} canAdmin={who.can_admin} onAdded={state.reload} prefill={route.params} />
      <h2>In force</h2>
      <ErrorBox error={error} />
      <Loaded state={state}>
        {({ revocations }) =>
          revocations.length === 0 ? (
            <p class="muted">No revocations.</p>
          ) : (
            <div class="table-wrap">
              <table data-testid="revocations">
                <thead>
                  <tr>
                    <th scope="col">Kind</th>
                    <th scope="col">Value</th>
                    <th scope="col">Issued before</th>
                    <th scope="col">Issuer</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Created</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  {revocations.map((r) => (
                    <Row key={r.id} r={r} canAdmin={who.can_admin} onDeleted={() => { setError(null); state.reload(); }} onError={setError} />
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </>
  );
}
