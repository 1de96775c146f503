import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CallerUnauthorizedError } from '../common/errors.js';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { TokenError } from './token-errors.js';
import { TokenService } from './token.service.js';

/** Who called toolgate, once authenticated; attached to the request. */
export interface Caller {
  subject: string;
  clientId?: string;
}

const ANONYMOUS: Caller = Object.freeze({ subject: 'anonymous' });

/**
 * Authenticates callers of toolgate's own API when `callers.auth` is `jwt`:
 * a bearer JWT from the configured issuer, for toolgate's audience, with the
 * configured scope. With `none` (loopback-only, enforced at config load) every
 * caller that can reach the port is accepted.
 */
@Injectable()
export class CallerAuthGuard implements CanActivate {
  private readonly self?: ServerConfig;

  constructor(
    private readonly config: ToolgateConfig,
    private readonly tokens: TokenService,
  ) {
    const c = config.callers;
    if (c.auth === 'jwt') {
      this.self = { id: '__toolgate_callers', resource: c.audience!, issuers: [c.issuer!], scopes_supported: [c.scope!] };
    }
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { caller?: Caller }>();
    req.caller = await this.authenticate(req);
    return true;
  }

  /** The caller of one request; throws CallerUnauthorizedError. Also used by the raw decision routes. */
  async authenticate(req: Pick<FastifyRequest, 'headers'>): Promise<Caller> {
    if (!this.self) return ANONYMOUS;
    const scope = this.config.callers.scope!;
    const header = req.headers.authorization;
    const challenge = `Bearer realm="toolgate", scope="${scope}"`;
    if (!header || !/^Bearer\s+\S/i.test(header)) {
      throw new CallerUnauthorizedError('caller_unauthenticated', 'toolgate requires a bearer token from its caller', challenge);
    }
    try {
      const v = await this.tokens.verifier.verify(header, this.self);
      if (!v.scopes.includes(scope)) {
        throw new CallerUnauthorizedError('caller_forbidden', `the caller's token lacks the scope ${scope}`, `Bearer error="insufficient_scope", scope="${scope}"`);
      }
      return { subject: String(v.claims.sub ?? ''), clientId: typeof v.claims.client_id === 'string' ? v.claims.client_id : undefined };
    } catch (e) {
      if (e instanceof TokenError) {
        throw new CallerUnauthorizedError('caller_unauthenticated', `the caller's token was rejected: ${e.code}`, `Bearer error="invalid_token", realm="toolgate"`);
      }
      throw e;
    }
  }
}
