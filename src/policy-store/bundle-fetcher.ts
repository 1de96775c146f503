import { secureFetch, SecureFetchError, type SecureFetchFailure } from '../common/secure-fetch.js';
import { PolicyBuildError } from '../policy-compiler/errors.js';

/** Result of one poll of a bundle URL. */
export type FetchResult = { status: 'not_modified' } | { status: 'ok'; body: Buffer; etag?: string };

const CODES: Record<SecureFetchFailure, string> = {
  insecure_url: 'bundle_url_insecure',
  redirect: 'bundle_fetch_redirect',
  too_large: 'bundle_too_large',
  status: 'bundle_fetch_failed',
  network: 'bundle_fetch_failed',
};

/**
 * Polls a bundle URL the way OPA's bundle plugin does: `If-None-Match` with the
 * ETag of the active bundle, 304 means unchanged. https only (http to loopback),
 * no redirects, bounded in time and size; every failure is step `fetch`.
 */
export async function fetchBundle(url: string, etag: string | undefined, timeoutMs: number, maxBytes: number): Promise<FetchResult> {
  try {
    const res = await secureFetch(url, {
      timeoutMs,
      maxBytes,
      headers: { accept: 'application/gzip, application/octet-stream', ...(etag ? { 'if-none-match': etag } : {}) },
    });
    if (res.status === 304) return { status: 'not_modified' };
    return { status: 'ok', body: res.body, etag: res.headers.get('etag') ?? undefined };
  } catch (e) {
    if (e instanceof SecureFetchError) throw new PolicyBuildError(CODES[e.reason], 'fetch', e.message);
    throw e;
  }
}
