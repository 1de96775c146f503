/**
 * The signed-in session, in memory only. The access token lives in this
 * module's closure: never in localStorage, sessionStorage, a cookie, the URL
 * or the DOM, so a reload (or closing the tab) signs the operator out.
 */
import type { WhoAmI } from './types.js';

let token: string | null = null;
let who: WhoAmI | null = null;
const listeners = new Set<() => void>();

/** Stores the bearer token and who it belongs to, then re-renders. */
export function signIn(accessToken: string, whoami: WhoAmI): void {
  token = accessToken;
  who = whoami;
  listeners.forEach((l) => l());
}

let endedBecause: string | null = null;

/** Forgets the token (sign-out, or the server answered 401: then `reason` says so on the sign-in screen). */
export function signOut(reason?: string): void {
  token = null;
  who = null;
  endedBecause = reason ?? null;
  listeners.forEach((l) => l());
}

/** The bearer token for same-origin API calls (null when signed out). */
export function bearer(): string | null {
  return token;
}

/** Why the last session ended, when it was not the operator's choice. */
export function sessionEndReason(): string | null {
  return endedBecause;
}

/** Who is signed in (null when signed out). */
export function whoami(): WhoAmI | null {
  return who;
}

/** Calls `l` on every sign-in and sign-out; returns the unsubscribe function. */
export function onSessionChange(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
