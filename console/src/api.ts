/**
 * Every data call of the console goes through here: same origin, the
 * in-memory bearer token in the Authorization header, no cookies (so there is
 * nothing a cross-site request could ride on).
 */
import { bearer, signOut } from './session.js';

/** An answer of the API that was not 2xx, with toolgate's `{code, message}` when it sent one. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

let apiBase = '/v1/admin';

/** Sets the admin API's base path from /console/config.json. */
export function setApiBase(base: string): void {
  apiBase = base.replace(/\/+$/, '');
}

/** Sends `method path` with the bearer token (or `token` when given, to check it before signing in). */
export async function call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const t = token ?? bearer();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const b = (parsed ?? {}) as { code?: unknown; message?: unknown; error?: unknown };
    const code = typeof b.code === 'string' ? b.code : typeof b.error === 'string' ? b.error : `http_${res.status}`;
    const message = typeof b.message === 'string' ? b.message : `${method} ${path} answered ${res.status}`;
    // An expired or revoked console token: back to the sign-in screen.
    if (res.status === 401 && !token) signOut(`The server no longer accepts this sign-in (${code}); sign in again.`);
    throw new ApiError(res.status, code, message);
  }
  return parsed as T;
}

/** GET under the admin API base (`/v1/admin` + path). */
export function admin<T>(path: string): Promise<T> {
  return call<T>('GET', apiBase + path);
}

/** Builds a query string from the set fields of `q`. */
export function query(q: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
