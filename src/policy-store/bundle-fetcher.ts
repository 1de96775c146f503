import { PolicyBuildError } from '../policy-compiler/errors.js';

/** Result of one poll of a bundle URL. */
export type FetchResult = { status: 'not_modified' } | { status: 'ok'; body: Buffer; etag?: string };

/**
 * Polls a bundle URL the way OPA's bundle plugin does: `If-None-Match` with the
 * ETag of the active bundle, 304 means unchanged. Bounded in time and size.
 */
export async function fetchBundle(url: string, etag: string | undefined, timeoutMs: number, maxBytes: number): Promise<FetchResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { accept: 'application/gzip, application/octet-stream', ...(etag ? { 'if-none-match': etag } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    });
  } catch (e) {
    throw new PolicyBuildError('bundle_fetch_failed', 'fetch', `GET ${url} failed: ${(e as Error).message}`);
  }
  if (res.status === 304) return { status: 'not_modified' };
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new PolicyBuildError('bundle_fetch_failed', 'fetch', `GET ${url} answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new PolicyBuildError('bundle_too_large', 'fetch', `bundle at ${url} is ${declared} bytes, over ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new PolicyBuildError('bundle_too_large', 'fetch', `bundle at ${url} is over ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return { status: 'ok', body: Buffer.concat(chunks), etag: res.headers.get('etag') ?? undefined };
}
