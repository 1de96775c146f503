import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolgateConfig } from '../config/config.schema.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The built single-page app: `dist/console` of the package. The server code lives in
 * dist/console-api, so from a compiled module that is `../console`; when this file runs as
 * TypeScript (tests, ts-node) it is the package's dist/console, two levels up from src/console-api.
 */
export function defaultConsoleRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const dir = path.dirname(here);
  return here.endsWith('.ts') ? path.resolve(dir, '../../dist/console') : path.resolve(dir, '../console');
}

/** The origin of a URL, or undefined for one that does not parse (config validation makes that rare). */
function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * The console's Content-Security-Policy: scripts and styles only from toolgate's origin (no
 * inline script, no eval), data calls to toolgate and the sign-in issuer, no framing, forms
 * posting only to toolgate or the issuer (its login page is a top-level navigation).
 */
export function consoleCsp(config: ToolgateConfig): string {
  const issuer = originOf(config.console.oauth?.issuer);
  const extra = issuer ? ` ${issuer}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${extra}`,
    "font-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    `form-action 'self'${extra}`,
  ].join('; ');
}

/** Headers every /console answer carries, files and errors alike. */
function secure(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header('content-security-policy', csp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

/** Where a request path under /console/ points inside `root`, or undefined when it would leave it. */
export function resolveAsset(root: string, rest: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const parts = decoded.split('/').filter((p) => p.length > 0);
  if (parts.some((p) => p === '..' || p === '.' || p.startsWith('.'))) return undefined;
  const file = path.resolve(root, ...parts);
  return file.startsWith(root + path.sep) ? file : undefined;
}

/**
 * Serves the console's static files at /console/ (plain Fastify routes: files, not API).
 * Client-side routes (no file extension) get index.html; a missing asset is a 404
 * {code, message}; with `console.enabled: false` everything under /console is 404.
 * The root is a property so tests can point it at a directory of their own.
 */
@Injectable()
export class ConsoleStatic implements OnModuleInit {
  /** Directory of the built SPA (default: the package's dist/console). */
  root = defaultConsoleRoot();
  private readonly csp: string;

  constructor(
    private readonly host: HttpAdapterHost,
    private readonly config: ToolgateConfig,
  ) {
    this.csp = consoleCsp(config);
  }

  onModuleInit(): void {
    const adapter = this.host.httpAdapter as HttpAdapterHost['httpAdapter'] | undefined;
    if (!adapter) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    // /console without the slash: relative asset URLs in index.html need the directory form.
    fastify.get('/console', (_req, reply) => {
      if (!this.config.console.enabled) return this.notFound(reply);
      return secure(reply, this.csp).redirect('/console/', 302);
    });
    fastify.get('/console/*', (req, reply) => this.serve(req, reply));
  }

  private notFound(reply: FastifyReply, message = 'not found'): FastifyReply {
    return secure(reply, this.csp).status(404).send({ code: 'not_found', message });
  }

  private async serve(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (!this.config.console.enabled) return this.notFound(reply, 'the console is disabled (console.enabled: false)');
    const root = path.resolve(this.root);
    const index = path.join(root, 'index.html');
    if (!(await isFile(index))) {
      return secure(reply, this.csp)
        .status(503)
        // The install path is for the operator's log, not for an unauthenticated client.
        .send({ code: 'console_not_built', message: 'the console is not built (its index.html is missing): run make build' });
    }
    const rest = (req.params as { '*'?: string })['*'] ?? '';
    const target = rest === '' ? index : resolveAsset(root, rest);
    if (target === undefined) return this.notFound(reply);
    let file = target;
    if (!(await isFile(file)) || !(await insideRoot(root, file))) {
      // A path with an extension names an asset that is missing; anything else is a client-side route.
      if (path.extname(target) !== '') return this.notFound(reply, `no console asset ${rest}`);
      file = index;
    }
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const body = await readFile(file);
    secure(reply, this.csp).type(type);
    // index.html names the hashed assets of one build: never cached, so an upgrade shows at once.
    reply.header('cache-control', file === index ? 'no-store' : 'no-cache');
    return reply.send(body);
  }
}

/**
 * Whether `file`, with every symlink resolved, still lies inside `root` (also
 * resolved): a link in the static directory must not serve files from elsewhere.
 */
async function insideRoot(root: string, file: string): Promise<boolean> {
  const [r, f] = await Promise.all([realpath(root).catch(() => undefined), realpath(file).catch(() => undefined)]);
  return r !== undefined && f !== undefined && f.startsWith(r + path.sep);
}

async function isFile(file: string): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  return st?.isFile() ?? false;
}
