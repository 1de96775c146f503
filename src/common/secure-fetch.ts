/**
 * Fetching policy and keys from remote servers. Bundles, JWKS and discovery
 * documents decide who is allowed to do what, so they travel only over https
 * (plain http only to this machine), are never taken from wherever a redirect
 * points, and are read with a byte cap while they stream in.
 */

/** Why a fetch was refused or failed; callers map it to their own error codes. */
export type SecureFetchFailure = 'insecure_url' | 'redirect' | 'status' | 'too_large' | 'network';

/** A refused or failed fetch. The message names the URL (never a credential: these URLs carry none). */
export class SecureFetchError extends Error {
  constructor(
    readonly reason: SecureFetchFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SecureFetchError';
  }
}

/**
 * True for `localhost`, 127.0.0.0/8 and ::1. The WHATWG URL parser has already
 * normalised IPv4 spellings (`127.1`, `2130706433`) to dotted quads, so only the
 * canonical forms need matching.
 */
function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why `url` may not carry policy or keys, or undefined when it may (https, or http to loopback). */
export function insecureUrlReason(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return undefined;
  if (u.protocol === 'http:') return `${url} uses plain http to a remote host; use https (http is accepted only for localhost, 127.0.0.0/8 and ::1)`;
  return `${url} must be an https URL`;
}

/** Options of one bounded fetch. */
export interface SecureFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  headers?: Record<string, string>;
}

/** The answer of a bounded fetch: 304 carries no body. */
export interface SecureFetchResult {
  status: number;
  headers: Headers;
  body: Buffer;
}

/**
 * GET `url` over https (or loopback http), refusing redirects (a 3xx is a
 * failure: following one could move the fetch to another host or down to
 * http), with one deadline covering headers and body, and a byte cap enforced
 * while the body streams so an oversized answer is cut off, not buffered.
 * Answers 200 and 304; anything else is a failure.
 */
export async function secureFetch(url: string, opts: SecureFetchOptions): Promise<SecureFetchResult> {
  const insecure = insecureUrlReason(url);
  if (insecure) throw new SecureFetchError('insecure_url', insecure);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers: opts.headers, signal: abort.signal, redirect: 'manual' });
    } catch (e) {
      throw new SecureFetchError('network', `GET ${url} failed: ${describe(e, abort.signal)}`);
    }
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      await res.body?.cancel().catch(() => undefined);
      const to = res.headers.get('location');
      throw new SecureFetchError('redirect', `GET ${url} answered a redirect (${res.status}${to ? ` to ${to}` : ''}); redirects are refused, configure the final URL`);
    }
    if (res.status !== 200 && res.status !== 304) {
      await res.body?.cancel().catch(() => undefined);
      throw new SecureFetchError('status', `GET ${url} answered ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > opts.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new SecureFetchError('too_large', `GET ${url} declares ${declared} bytes, over the limit of ${opts.maxBytes}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          total += chunk.length;
          if (total > opts.maxBytes) {
            // Stop the transfer now rather than draining a body we will not use.
            abort.abort(new Error('size limit'));
            throw new SecureFetchError('too_large', `GET ${url} sent more than the limit of ${opts.maxBytes} bytes`);
          }
          chunks.push(Buffer.from(chunk));
        }
      } catch (e) {
        if (e instanceof SecureFetchError) throw e;
        throw new SecureFetchError('network', `GET ${url} failed while reading the body: ${describe(e, abort.signal)}`);
      }
    }
    return { status: res.status, headers: res.headers, body: Buffer.concat(chunks) };
  } finally {
    clearTimeout(timer);
  }
}

function describe(e: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const err = e as { message?: string; cause?: { message?: string } };
  return err.cause?.message ? `${err.message}: ${err.cause.message}` : (err.message ?? String(e));
}
