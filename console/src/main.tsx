/** The toolgate operator console: boot, sign-in and the shell around the views. */
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, setApiBase } from './api.js';
import { beginSignIn, completeSignIn } from './oauth.js';
import { href, useRoute } from './router.js';
import { onSessionChange, sessionEndReason, signIn, signOut, whoami } from './session.js';
import type { ConsoleConfig, WhoAmI } from './types.js';
import { ErrorBox } from './ui.js';
import { OverviewView } from './views/overview.js';
import { DecisionsView } from './views/decisions.js';
import { PolicyView } from './views/policy.js';
import { RevocationsView } from './views/revocations.js';

/** Checks a token against the API before keeping it: a wrong audience or scope fails here, not later. */
async function adopt(config: ConsoleConfig, token: string): Promise<void> {
  const who = await call<WhoAmI>('GET', `${config.api_base.replace(/\/+$/, '')}/whoami`, undefined, token);
  signIn(token, who);
}

function SignIn({ config, initialError }: { config: ConsoleConfig; initialError: unknown }) {
  const [error, setError] = useState<unknown>(initialError);
  const [busy, setBusy] = useState(false);
  const [pasted, setPasted] = useState('');
  const oauth = config.oauth;
  return (
    <main class="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">toolgate console</h1>
      <ErrorBox error={error} />
      {oauth && (
        <section aria-labelledby="sso-title">
          <h2 id="sso-title">Sign in</h2>
          <p>
            With the authorization server <code>{oauth.issuer}</code> (authorization code with PKCE; the token is for <code>{config.admin_audience}</code>).
          </p>
          <button
            type="button"
            class="primary"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              setError(null);
              beginSignIn(config).catch((e: unknown) => {
                setBusy(false);
                setError(e);
              });
            }}
          >
            Sign in with {new URL(oauth.issuer).host}
          </button>
        </section>
      )}
      <section aria-labelledby="paste-title">
        <h2 id="paste-title">{oauth ? 'Or paste an access token' : 'Paste an access token'}</h2>
        <p>
          A bearer token for the admin audience <code>{config.admin_audience}</code> with <code>toolgate:read</code> (read only) or <code>toolgate:admin</code>. With{' '}
          <code>make run</code>, mint one with:
        </p>
        <pre class="cmd">node dist/cli.js demo-token --aud {config.admin_audience} --scope toolgate:admin</pre>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const t = pasted.trim();
            setPasted('');
            setBusy(true);
            setError(null);
            adopt(config, t).catch((err: unknown) => {
              setBusy(false);
              setError(err);
            });
          }}
        >
          <label for="token">Access token</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} required value={pasted} onInput={(e) => setPasted(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>
            Use token
          </button>
        </form>
      </section>
      <p class="muted">The token is kept in this page's memory only (never in storage or cookies): reloading the page or closing the tab signs you out.</p>
    </main>
  );
}

const VIEWS = [
  ['overview', 'Overview'],
  ['decisions', 'Decisions'],
  ['policy', 'Policy'],
  ['revocations', 'Revocations'],
] as const;

function Shell({ who }: { who: WhoAmI }) {
  const route = useRoute();
  const view = route.parts[0] ?? 'overview';
  useEffect(() => {
    const label = VIEWS.find(([k]) => k === view)?.[1] ?? 'Overview';
    document.title = `${label} · toolgate console`;
  }, [view]);
  return (
    <>
      <header class="top">
        <span class="brand">toolgate</span>
        <nav aria-label="Views">
          <ul>
            {VIEWS.map(([k, label]) => (
              <li key={k}>
                <a href={href([k])} aria-current={view === k ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who" data-testid="who">
          {who.sub}
          {who.client_id ? ` (${who.client_id})` : ''} · <span class={who.can_admin ? 'badge admin' : 'badge'}>{who.can_admin ? 'admin' : 'read only'}</span>
        </span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        {view === 'decisions' ? (
          <DecisionsView route={route} />
        ) : view === 'policy' ? (
          <PolicyView route={route} />
        ) : view === 'revocations' ? (
          <RevocationsView who={who} route={route} />
        ) : (
          <OverviewView />
        )}
      </main>
    </>
  );
}

function App({ config, bootError }: { config: ConsoleConfig; bootError: unknown }) {
  const [who, setWho] = useState<WhoAmI | null>(whoami());
  useEffect(() => onSessionChange(() => setWho(whoami())), []);
  const ended = sessionEndReason();
  return who ? <Shell who={who} /> : <SignIn config={config} initialError={ended ? new Error(ended) : bootError} />;
}

async function boot(): Promise<void> {
  const root = document.getElementById('app')!;
  let config: ConsoleConfig;
  try {
    const res = await fetch('/console/config.json', { credentials: 'omit', cache: 'no-store' });
    if (!res.ok) throw new Error(`/console/config.json answered ${res.status}`);
    config = (await res.json()) as ConsoleConfig;
  } catch (e) {
    render(<ErrorBox error={e} />, root);
    return;
  }
  setApiBase(config.api_base);
  let bootError: unknown = null;
  try {
    const token = await completeSignIn(config);
    if (token) await adopt(config, token);
  } catch (e) {
    bootError = e;
  }
  root.textContent = '';
  render(<App config={config} bootError={bootError} />, root);
}

void boot();
