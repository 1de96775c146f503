import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { BadRequestError, CallerUnauthorizedError, PolicyUnavailableError, StoreUnavailableError, ToolgateError } from './errors.js';

/** Status and body for one thrown value. */
export interface ErrorAnswer {
  status: number;
  body: { code: string; message: string };
  headers?: Record<string, string>;
}

const FASTIFY_CODES: Record<string, [string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['body_too_large', 'the request body is larger than the configured limit'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['unsupported_media_type', 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['invalid_request', 'the Content-Length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['invalid_request', 'the body is empty; send a JSON object'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['invalid_json', 'the body is not valid JSON'],
};

/** The answer for a Fastify client error, classified by its code (FST_…) and status, never by message. */
function fastifyAnswer(err: unknown): ErrorAnswer | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown } | undefined;
  if (!e || typeof e.code !== 'string' || !e.code.startsWith('FST_')) return undefined;
  const known = FASTIFY_CODES[e.code];
  if (known) return { status: e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 415 : 400, body: { code: known[0], message: known[1] } };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: 400, body: { code: 'invalid_request', message: typeof e.message === 'string' ? e.message : 'invalid request' } };
  }
  return undefined;
}

/**
 * The one place that maps errors to HTTP. Domain errors carry codes; client
 * mistakes are 400 with {code, message}; anything unexpected is a 500 with a
 * generic message (details go to the log, never to the client).
 */
export function answerFor(err: unknown, log?: Logger): ErrorAnswer {
  if (err instanceof BadRequestError) return { status: 400, body: { code: err.code, message: err.message } };
  if (err instanceof PolicyUnavailableError || err instanceof StoreUnavailableError) {
    // A busy or briefly unavailable store may say when to come back (admin_busy does).
    const retry = err.details?.retry_after_s;
    return { status: 503, body: { code: err.code, message: err.message }, headers: typeof retry === 'number' ? { 'retry-after': String(retry) } : undefined };
  }
  if (err instanceof CallerUnauthorizedError) {
    const status = err.code === 'caller_forbidden' ? 403 : 401;
    return {
      status,
      body: { code: err.code, message: err.message },
      headers: err.wwwAuthenticate ? { 'www-authenticate': err.wwwAuthenticate } : undefined,
    };
  }
  if (err instanceof ToolgateError) {
    log?.error(`unmapped domain error ${err.code}: ${err.message}`);
    return { status: 500, body: { code: 'internal_error', message: 'internal error' } };
  }
  if (err instanceof HttpException) {
    // Nest wraps Fastify's body-parser errors (FST_ERR_CTP_*) into HttpExceptions whose cause is the original.
    const fastify = fastifyAnswer(err.cause);
    if (fastify) return fastify;
    const status = err.getStatus();
    if (status === 404) return { status, body: { code: 'not_found', message: err.message } };
    if (status === 405) return { status, body: { code: 'method_not_allowed', message: err.message } };
    if (status < 500) return { status: 400, body: { code: 'invalid_request', message: err.message } };
    log?.error(`HTTP ${status}: ${err.message}`);
    return { status: 500, body: { code: 'internal_error', message: 'internal error' } };
  }
  const fastify = fastifyAnswer(err);
  if (fastify) return fastify;
  // Any other error a library marks as the client's (a 4xx statusCode) is still a 400, never a 500.
  const sc = (err as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof sc === 'number' && sc >= 400 && sc < 500) return { status: 400, body: { code: 'invalid_request', message: 'invalid request' } };
  log?.error(`unexpected error: ${err instanceof Error ? err.stack : String(err)}`);
  return { status: 500, body: { code: 'internal_error', message: 'internal error' } };
}

/** Nest's global exception filter, delegating to answerFor. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('ErrorFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const a = answerFor(exception, this.log);
    if (a.headers) for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
    void reply.status(a.status).send(a.body);
  }
}

/**
 * Fastify's `frameworkErrors` hook: errors Fastify answers itself before any
 * route runs (a URL that does not decode, FST_ERR_BAD_URL; an over-long path
 * parameter) get the same {code, message} body as everything else.
 */
export function frameworkErrorReply(err: Error, _req: unknown, reply: FastifyReply): void {
  const a = answerFor(err);
  if (a.headers) for (const [k, v] of Object.entries(a.headers)) reply.header(k, v);
  void reply.status(a.status).send(a.body);
}
