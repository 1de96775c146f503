import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ToolgateConfig } from '../config/config.schema.js';

/**
 * The HTTP edge (README, "Security"): what every request and connection meets before any
 * route runs. Connections are capped per source address and in total below the process's
 * file-descriptor limit; a request must send its headers within `http.headers_timeout_ms`
 * and its whole body within `http.body_timeout_ms` more; a keep-alive connection idle for
 * `http.idle_timeout_ms` is closed. Every request's `Host` must name toolgate, an `Origin`
 * must be one of toolgate's own (DNS rebinding), and a body must be `application/json`.
 */

/** File descriptors kept free for everything that is not a client connection (logs, JWKS, policy builds, PostgreSQL). */
export function fdHeadroom(softLimit: number): number {
  return Math.max(64, Math.ceil(softLimit * 0.1));
}

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits; undefined where it cannot be read (not Linux) or is unlimited. */
export function readNofileSoftLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m || m[1] === 'unlimited') return undefined;
  return Number(m[1]);
}

/** Where the descriptor limit cannot be read, toolgate assumes the common default. */
const ASSUMED_NOFILE = 1024;

/** Connection caps for this process: `http.max_connections` (if set), never above the descriptor limit less its headroom. */
export function connectionCaps(http: ToolgateConfig['http'], softLimit: number | undefined): { total: number; perSource: number } {
  const fd = softLimit ?? ASSUMED_NOFILE;
  const below = Math.max(1, fd - fdHeadroom(fd));
  const total = Math.min(http.max_connections ?? below, below);
  return { total, perSource: Math.min(http.max_connections_per_source, total) };
}

/** The options of the HTTP server (Fastify and node:http) that carry the timeouts. */
export function serverTimeoutOptions(http: ToolgateConfig['http']): {
  keepAliveTimeout: number;
  requestTimeout: number;
  http: { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number };
} {
  // node:http measures both from the request's first byte: the whole request gets the header time plus the body time.
  const requestTimeout = http.headers_timeout_ms + http.body_timeout_ms;
  // node:http enforces these timeouts on a periodic sweep (30 s by default): sweep often enough that a deadline means itself.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(Math.min(http.headers_timeout_ms, http.body_timeout_ms) / 4)));
  return {
    keepAliveTimeout: http.idle_timeout_ms,
    requestTimeout,
    http: { headersTimeout: http.headers_timeout_ms, requestTimeout, keepAliveTimeout: http.idle_timeout_ms, connectionsCheckingInterval },
  };
}

/** A host name or address, normalized: lowercase, one trailing dot dropped, IP literals in WHATWG canonical form. */
function normalizeName(name: string): string | undefined {
  let n = name.toLowerCase();
  if (n.endsWith('.') && !n.startsWith('[')) n = n.slice(0, -1);
  if (n === '' || n.endsWith('.')) return undefined;
  try {
    const h = new URL(`http://${n}/`).hostname;
    return h === '' ? undefined : h;
  } catch {
    return undefined;
  }
}

// A Host header: a reg-name (letters, digits, . - _) or a bracketed IPv6 literal, then an optional port
// written without leading zeros. Nothing else: no userinfo, no path, no empty port, no spaces.
const HOST_SYNTAX = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9_])?\.?)(?::([1-9][0-9]{0,4}))?$/;

/** A Host header value split into a normalized name and a port (undefined: none written). */
export function parseHostHeader(value: string): { name: string; port?: number } | undefined {
  const m = HOST_SYNTAX.exec(value);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  const name = normalizeName(m[1]);
  return name === undefined ? undefined : { name, port };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

/** Names toolgate answers to at a fixed port, and whether the name is also allowed with no port written (the scheme's default). */
interface NamedHost {
  ports: Set<number>;
  defaultPort: boolean;
}

/** The Host and Origin rules of one configuration (listen address, servers' public URLs, `http.allowed_hosts` / `allowed_origins`). */
export class HostRules {
  private readonly named = new Map<string, NamedHost>();
  /** Names allowed at the port the connection arrived on (loopback names, a specific listen.host). */
  private readonly local = new Set<string>(LOOPBACK_NAMES);
  private readonly origins: Set<string>;
  /** Host header values already found allowed, per local port (bounded). */
  private readonly seen = new Map<string, boolean>();

  constructor(config: ToolgateConfig) {
    const listen = config.listen.host.toLowerCase();
    if (!WILDCARDS.has(listen)) {
      const n = normalizeName(isIP(listen) === 6 ? `[${listen}]` : listen);
      if (n) this.local.add(n);
    }
    const urls = config.servers.flatMap((s) => [s.resource, s.resource_metadata_url]).filter((u): u is string => typeof u === 'string');
    for (const u of urls) {
      try {
        const url = new URL(u);
        // No port written: the scheme's default, which a browser also leaves out of Host.
        this.add(url.hostname, [url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)], url.port === '');
      } catch {
        // config validation checked these are URLs
      }
    }
    for (const h of config.http.allowed_hosts) {
      const p = parseHostHeader(h);
      // A name without a port: at either default port (the scheme behind a proxy is not known here).
      if (p) this.add(p.name, p.port === undefined ? [80, 443] : [p.port], p.port === undefined);
    }
    this.origins = new Set(config.http.allowed_origins.map((o) => o.toLowerCase()));
  }

  private add(name: string, ports: number[], defaultPort: boolean): void {
    const n = normalizeName(name);
    if (!n) return;
    const e = this.named.get(n) ?? { ports: new Set<number>(), defaultPort: false };
    for (const p of ports) e.ports.add(p);
    e.defaultPort ||= defaultPort;
    this.named.set(n, e);
  }

  /** Whether `name` with `port` (undefined: none written) names toolgate on a connection to `localPort` at `localAddress`. */
  private allowedName(name: string, port: number | undefined, localPort: number, localAddress: string | undefined): boolean {
    const e = this.named.get(name);
    if (e && (port === undefined ? e.defaultPort : e.ports.has(port))) return true;
    const atLocal = port === undefined ? localPort === 80 : port === localPort;
    if (!atLocal) return false;
    if (this.local.has(name)) return true;
    // An IP literal equal to the address the connection arrived on: the page was loaded from toolgate itself, no name was rebound.
    if (localAddress) {
      const a = localAddress.startsWith('::ffff:') && isIP(localAddress.slice(7)) === 4 ? localAddress.slice(7) : localAddress;
      const n = normalizeName(isIP(a) === 6 ? `[${a}]` : a);
      if (n === name) return true;
    }
    return false;
  }

  /** Whether the Host header value `host` is allowed on `socket` (undefined Host: only HTTP/1.0, which node:http lets through). */
  hostAllowed(host: string | undefined, socket: Socket): boolean {
    if (host === undefined) return true;
    const localPort = socket.localPort ?? 0;
    const key = `${socket.localAddress ?? ''} ${localPort} ${host}`;
    const known = this.seen.get(key);
    if (known !== undefined) return known;
    const p = parseHostHeader(host);
    const ok = p !== undefined && this.allowedName(p.name, p.port, localPort, socket.localAddress);
    if (this.seen.size < 256) this.seen.set(key, ok);
    return ok;
  }

  /** Whether an `Origin` header value is one of toolgate's own origins (or configured). `null` and anything opaque are not. */
  originAllowed(origin: string, socket: Socket): boolean {
    const lower = origin.toLowerCase();
    if (this.origins.has(lower)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== lower) return false;
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    const name = normalizeName(url.hostname);
    return name !== undefined && this.allowedName(name, port, socket.localPort ?? 0, socket.localAddress);
  }
}

/** Whether a request carries a body: a non-zero Content-Length or any Transfer-Encoding. */
function hasBody(req: FastifyRequest): boolean {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const len = h['content-length'];
  return len !== undefined && len !== '0';
}

/** Whether a Content-Type is `application/json`, parameters allowed (`; charset=utf-8`). */
export function isJsonMediaType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

/** Answers {code, message} before the body is read, and closes the connection so an unread body is never drained. */
export function refuseEarly(reply: FastifyReply, status: number, code: string, message: string, headers?: Record<string, string>): void {
  void reply.header('connection', 'close');
  if (headers) for (const [k, v] of Object.entries(headers)) void reply.header(k, v);
  void reply.code(status).send({ code, message });
}

/**
 * Installs the edge on a Fastify instance before any route: the per-source connection cap,
 * the total cap (node:http's maxConnections), and one onRequest hook for Host, Origin and
 * the body's media type. Caps count this process's connections: with `workers: N` each
 * worker has its own (README, "Workers and the watchdog").
 */
export function installHttpEdge(fastify: FastifyInstance, config: ToolgateConfig): void {
  // Node raises its soft limit to the hard one at startup, so this is what the process really has.
  const caps = connectionCaps(config.http, readNofileSoftLimit());
  const server = fastify.server as Server;
  server.maxConnections = caps.total;
  const perSource = new Map<string, number>();
  // Prepended, so a connection over the cap is destroyed before node:http reads a byte of it.
  server.prependListener('connection', (socket: Socket) => {
    const from = socket.remoteAddress ?? '';
    const n = (perSource.get(from) ?? 0) + 1;
    if (n > caps.perSource) {
      socket.destroy();
      return;
    }
    perSource.set(from, n);
    socket.once('close', () => {
      const left = (perSource.get(from) ?? 1) - 1;
      if (left <= 0) perSource.delete(from);
      else perSource.set(from, left);
    });
  });
  const rules = new HostRules(config);
  fastify.addHook('onRequest', (req, reply, done) => {
    const raw = req.raw;
    if (!rules.hostAllowed(raw.headers.host, raw.socket)) {
      return refuseEarly(reply, 403, 'host_forbidden', 'the Host header does not name this toolgate (see http.allowed_hosts)');
    }
    const origin = raw.headers.origin;
    if (origin !== undefined && !rules.originAllowed(origin, raw.socket)) {
      return refuseEarly(reply, 403, 'origin_forbidden', 'requests from this Origin are not allowed (see http.allowed_origins)');
    }
    if (hasBody(req) && !isJsonMediaType(raw.headers['content-type'])) {
      return refuseEarly(reply, 415, 'unsupported_media_type', 'send the body as application/json');
    }
    done();
  });
}
