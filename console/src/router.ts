/** Hash routes (`#/decisions?tool=x`): the server serves one page, filters stay in the address for sharing. */
import { useEffect, useState } from 'preact/hooks';

/** A parsed route: path segments and query parameters. */
export interface Route {
  parts: string[];
  params: URLSearchParams;
}

/** Parses `location.hash`. */
export function currentRoute(): Route {
  const h = location.hash.replace(/^#\/?/, '');
  const [p, q] = h.split('?', 2);
  return { parts: p.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(q ?? '') };
}

/** A hash link to `parts` with `params`. */
export function href(parts: string[], params?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v) q.set(k, v);
  const qs = q.toString();
  return `#/${parts.map(encodeURIComponent).join('/')}${qs ? `?${qs}` : ''}`;
}

/** Navigates to a hash route. */
export function go(parts: string[], params?: Record<string, string | undefined>): void {
  location.hash = href(parts, params);
}

/** The current route, updated on hashchange. */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
