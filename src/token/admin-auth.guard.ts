import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CallerUnauthorizedError } from '../common/errors.js';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import type { Caller } from './caller-auth.guard.js';
import { TokenError } from './token-errors.js';
import { TokenService } from './token.service.js';

/**
 * Protects the admin API (revocations): a bearer JWT from `admin.issuer`, for
 * `admin.audience`, carrying `admin.scope`. Without an `admin` section the API
 * refuses everyone.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly self?: ServerConfig;

  constructor(
    private readonly config: ToolgateConfig,
    private readonly tokens: TokenService,
  ) {
    const a = config.admin;
    if (a) this.self = { id: '__toolgate_admin', resource: a.audience, issuers: [a.issuer], scopes_supported: [a.scope] };
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { caller?: Caller }>();
    if (!this.self) throw new CallerUnauthorizedError('caller_forbidden', 'the admin API is disabled: configure `admin`');
    const scope = this.config.admin!.scope;
    const header = req.headers.authorization;
    if (!header || !/^Bearer\s+\S/i.test(header)) {
      throw new CallerUnauthorizedError('caller_unauthenticated', 'the admin API requires a bearer token', `Bearer realm="toolgate-admin", scope="${scope}"`);
    }
    let subject: string;
    try {
      const v = await this.tokens.verifier.verify(header, this.self);
      if (!v.scopes.includes(scope)) {
        throw new CallerUnauthorizedError('caller_forbidden', `the admin token lacks the scope ${scope}`, `Bearer error="insufficient_scope", scope="${scope}"`);
      }
      subject = String(v.claims.sub ?? '');
    } catch (e) {
      if (e instanceof TokenError) {
        throw new CallerUnauthorizedError('caller_unauthenticated', `the admin token was rejected: ${e.code}`, 'Bearer error="invalid_token", realm="toolgate-admin"');
      }
      throw e;
    }
    req.caller = { subject };
    return true;
  }
}
