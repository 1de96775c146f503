/**
 * Sign-in as a public client: OAuth 2.1 authorization code with PKCE (S256)
 * and a resource indicator for toolgate's admin audience. Only the state and
 * the code verifier survive the redirect, in sessionStorage, and they are
 * removed the moment the browser comes back; the access token itself stays in
 * memory (session.ts).
 */
import type { ConsoleConfig } from './types.js';

const PENDING = 'toolgate.console.pkce';

interface Pending {
  state: string;
  verifier: string;
  token_endpoint: string;
  redirect_uri: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  code_challenge_methods_supported?: string[];
}

function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(n: number): string {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

/** Where the authorization server sends the browser back: registered as the console client's redirect URI. */
export function redirectUri(): string {
  return `${location.origin}/console/callback`;
}

function scopesOf(oauth: NonNullable<ConsoleConfig['oauth']>): string {
  return Array.isArray(oauth.scopes) ? oauth.scopes.join(' ') : oauth.scopes;
}

/** Starts the sign-in: discovery, then a top-level redirect to the authorization endpoint. */
export async function beginSignIn(config: ConsoleConfig): Promise<void> {
  const oauth = config.oauth;
  if (!oauth) throw new Error('no authorization server is configured; paste a token instead');
  const issuer = oauth.issuer.replace(/\/+$/, '');
  const res = await fetch(`${issuer}/.well-known/openid-configuration`, { credentials: 'omit' });
  if (!res.ok) throw new Error(`discovery at ${issuer} answered ${res.status}`);
  const meta = (await res.json()) as Discovery;
  if (meta.code_challenge_methods_supported && !meta.code_challenge_methods_supported.includes('S256')) {
    throw new Error('the authorization server does not support PKCE S256');
  }
  const verifier = random(32);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const pending: Pending = { state: random(16), verifier, token_endpoint: meta.token_endpoint, redirect_uri: redirectUri() };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: oauth.client_id,
    redirect_uri: pending.redirect_uri,
    scope: scopesOf(oauth),
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: oauth.resource ?? config.admin_audience,
  });
  location.assign(`${meta.authorization_endpoint}?${params}`);
}

/**
 * Finishes a sign-in when the URL carries the authorization server's answer:
 * checks the state, redeems the code with the verifier, and returns the
 * access token (null when this page load is not a redirect back).
 */
export async function completeSignIn(config: ConsoleConfig): Promise<string | null> {
  const url = new URL(location.href);
  const code = url.searchParams.get('code');
  const error = url.searchParams.get('error');
  const state = url.searchParams.get('state');
  if (!code && !error) return null;
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  // The code must not linger in the address bar or the history.
  history.replaceState(null, '', '/console/');
  if (error) throw new Error(`the authorization server refused: ${error}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`);
  if (!raw) throw new Error('no sign-in was started from this tab; sign in again');
  const pending = JSON.parse(raw) as Pending;
  if (!state || state !== pending.state) throw new Error('the sign-in answer does not match the request (state); sign in again');
  const oauth = config.oauth;
  if (!oauth) throw new Error('no authorization server is configured');
  const res = await fetch(pending.token_endpoint, {
    method: 'POST',
    credentials: 'omit',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: pending.redirect_uri,
      client_id: oauth.client_id,
      code_verifier: pending.verifier,
      resource: oauth.resource ?? config.admin_audience,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`the token request was refused: ${body.error ?? res.status}${body.error_description ? `: ${body.error_description}` : ''}`);
  return body.access_token;
}
