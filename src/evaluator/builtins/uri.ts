/**
 * uri.parse / uri.is_valid with the rules of Go's net/url.Parse, which is what
 * OPA's implementation calls: fragment split first, then scheme, query, an
 * authority only after "//", and a path whose raw form is kept only when it
 * differs from Go's default path escaping. Work is done on UTF-8 bytes, as Go
 * does, so percent-escapes of multi-byte characters decode correctly.
 */

type Mode = 'path' | 'host' | 'zone' | 'userinfo' | 'fragment';

class UrlError extends Error {}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function unhex(c: number): number {
  if (c <= 0x39) return c - 0x30;
  if (c <= 0x46) return c - 0x41 + 10;
  return c - 0x61 + 10;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Go's shouldEscape for the modes uri.parse needs. */
function shouldEscape(c: number, mode: Mode): boolean {
  if (isAlnum(c)) return false;
  const ch = String.fromCharCode(c);
  if (mode === 'host' || mode === 'zone') {
    if ("!$&'()*+,;=:[]<>\"".includes(ch)) return false;
  }
  if ('-_.~'.includes(ch)) return false;
  if ('$&+,/:;=?@'.includes(ch)) {
    switch (mode) {
      case 'path':
        return ch === '?';
      case 'userinfo':
        return ch === '@' || ch === '/' || ch === '?' || ch === ':';
      case 'fragment':
        return false;
      default:
        return true;
    }
  }
  if (mode === 'fragment' && "!()*".includes(ch)) return false;
  return true;
}

function unescape(s: Buffer, mode: Mode): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === 0x25) {
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2])) throw new UrlError('invalid URL escape');
      const hi = unhex(s[i + 1]);
      // In a host, escapes may only encode non-ASCII bytes, except %25 in a zone.
      if (mode === 'host' && hi < 8 && !(s[i + 1] === 0x32 && s[i + 2] === 0x35)) throw new UrlError('invalid URL escape');
      if (mode === 'zone' && hi < 8 && !(s[i + 1] === 0x32 && s[i + 2] === 0x35)) {
        const v = hi * 16 + unhex(s[i + 2]);
        if (shouldEscape(v, 'host')) throw new UrlError('invalid URL escape');
      }
      out.push(hi * 16 + unhex(s[i + 2]));
      i += 2;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c < 0x80 && shouldEscape(c, mode)) throw new UrlError('invalid character in host name');
    out.push(c);
  }
  return Buffer.from(out);
}

function escapePath(s: Buffer): string {
  let out = '';
  for (const c of s) {
    out += shouldEscape(c, 'path') ? `%${c.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(c);
  }
  return out;
}

function validOptionalPort(port: string): boolean {
  if (port === '') return true;
  if (port[0] !== ':') return false;
  for (const ch of port.slice(1)) if (ch < '0' || ch > '9') return false;
  return true;
}

function validUserinfo(s: string): boolean {
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 0x80 && isAlnum(c)) continue;
    if ("-._:~!$&'()*+,;=%@".includes(ch)) continue;
    return false;
  }
  return true;
}

function parseHost(host: string): string {
  if (host.startsWith('[')) {
    const i = host.lastIndexOf(']');
    if (i < 0) throw new UrlError("missing ']' in host");
    const colonPort = host.slice(i + 1);
    if (!validOptionalPort(colonPort)) throw new UrlError('invalid port after host');
    const zone = host.slice(0, i).indexOf('%25');
    if (zone >= 0) {
      const h1 = unescape(Buffer.from(host.slice(0, zone)), 'host').toString();
      const h2 = unescape(Buffer.from(host.slice(zone, i)), 'zone').toString();
      const h3 = unescape(Buffer.from(host.slice(i)), 'host').toString();
      return h1 + h2 + h3;
    }
  } else {
    const i = host.lastIndexOf(':');
    if (i >= 0 && !validOptionalPort(host.slice(i))) throw new UrlError('invalid port after host');
  }
  return unescape(Buffer.from(host), 'host').toString();
}

export interface ParsedUrl {
  scheme: string;
  opaque: string;
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
}

/** Go's url.Parse; throws on what Go rejects. */
export function goParseUrl(raw: string): ParsedUrl {
  const u: ParsedUrl = { scheme: '', opaque: '', host: '', path: '', rawPath: '', rawQuery: '', fragment: '' };
  for (const ch of raw) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) throw new UrlError('invalid control character in URL');
  }
  let rest = raw;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    u.fragment = unescape(Buffer.from(rest.slice(hash + 1)), 'fragment').toString();
    rest = rest.slice(0, hash);
  }
  // Scheme
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+.-]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) throw new UrlError('missing protocol scheme');
      u.scheme = rest.slice(0, i).toLowerCase();
      rest = rest.slice(i + 1);
    }
    break;
  }
  if (rest.endsWith('?') && rest.split('?').length === 2) {
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      u.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (u.scheme !== '') {
      u.opaque = rest;
      return u;
    }
    const colon = rest.indexOf(':');
    const slash = rest.indexOf('/');
    if (colon >= 0 && (slash < 0 || colon < slash)) throw new UrlError('first path segment in URL cannot contain colon');
  }
  if ((u.scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    } else {
      rest = '';
    }
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (!validUserinfo(userinfo)) throw new UrlError('net/url: invalid userinfo');
      unescape(Buffer.from(userinfo), 'userinfo');
    }
    u.host = parseHost(authority.slice(at + 1));
  }
  const rawBytes = Buffer.from(rest);
  const path = unescape(rawBytes, 'path');
  u.path = path.toString();
  u.rawPath = escapePath(path) === rest ? '' : rest;
  return u;
}

function splitHostPort(hostPort: string): [string, string] {
  let host = hostPort;
  let port = '';
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && validOptionalPort(host.slice(colon))) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return [host, port];
}

export function uriParse(v: unknown): Record<string, string> {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  const u = goParseUrl(v);
  const out: Record<string, string> = {};
  if (u.scheme) out.scheme = u.scheme;
  const [hostname, port] = splitHostPort(u.host);
  if (hostname) out.hostname = hostname;
  if (port) out.port = port;
  if (u.path) {
    out.path = u.path;
    out.raw_path = u.rawPath || u.path;
  }
  if (u.rawQuery) out.raw_query = u.rawQuery;
  if (u.fragment) out.fragment = u.fragment;
  return out;
}

export function uriIsValid(v: unknown): boolean {
  if (typeof v !== 'string' || v === '') return false;
  try {
    goParseUrl(v);
    return true;
  } catch {
    return false;
  }
}
