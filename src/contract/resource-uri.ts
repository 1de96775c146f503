/**
 * Which resource URIs reach a policy at all. The policy reads the URI as a
 * string; both TypeScript MCP SDK lines (`@modelcontextprotocol/sdk` 1.x and
 * `@modelcontextprotocol/server` 2.x) look a resource up through WHATWG
 * `new URL(uri)`, which drops tab, LF and CR, strips leading and trailing
 * spaces and controls, resolves `.`/`..` segments (`%2e` included) and turns
 * `\` into `/` for some schemes. A URI that parser reads differently from the
 * raw string could be allowed under one name and served under another
 * (`docs://kb/public/.\t./secret` is served as `docs://kb/secret`), so only a
 * URI that is its own WHATWG serialization is decided.
 */

/** Why a resource URI is refused: a stable code and a reason for the caller. */
export interface UriRefusal {
  code: 'resource_uri_unsafe' | 'resource_uri_not_canonical' | 'uri_too_long';
  message: string;
}

// C0 controls, space, DEL, any other Unicode whitespace (NBSP, U+2028, ...), and a
// backslash: RFC 3986 has no unencoded `\`, and WHATWG URL reads it as `/` in http(s),
// file and the other special schemes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u0020\u007f\s\\]/u;

/**
 * Undefined when `uri` may be decided; else why not. `maxLength` (characters)
 * is `limits.uri_length` where the caller knows it.
 */
export function resourceUriRefusal(uri: string, maxLength?: number): UriRefusal | undefined {
  if (maxLength !== undefined && uri.length > maxLength) {
    return { code: 'uri_too_long', message: `the resource URI is longer than ${maxLength} characters (limits.uri_length)` };
  }
  const unsafe = UNSAFE.exec(uri);
  if (unsafe) {
    const cp = unsafe[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return { code: 'resource_uri_unsafe', message: `the resource URI contains U+${cp} (a control character, DEL, whitespace or a backslash), which MCP SDKs drop or rewrite before looking the resource up` };
  }
  let href: string;
  try {
    href = new URL(uri).href;
  } catch {
    return { code: 'resource_uri_not_canonical', message: 'the resource URI is not an absolute URI that WHATWG URL parsing accepts (the MCP SDKs refuse it too)' };
  }
  if (href !== uri) {
    return { code: 'resource_uri_not_canonical', message: `the resource URI is read as ${JSON.stringify(href.length > 200 ? `${href.slice(0, 200)}…` : href)} by WHATWG URL parsing (as MCP SDKs look it up); send that form` };
  }
  return undefined;
}
