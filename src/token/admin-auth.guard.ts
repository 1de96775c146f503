import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CallerUnauthorizedError } from '../common/errors.js';
import { RESERVED_SERVER_ID_PREFIX, ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import type { Caller } from './caller-auth.guard.js';
import { authenticateBearer } from './bearer-auth.js';
import { TokenService } from './token.service.js';

/**
 * Protects the admin API (revocations): a bearer JWT from `admin.issuer`, for
 * `admin.audience`, carrying `admin.scope`, that is not revoked (the same
 * verify + revocation path as every other token). Without an `admin` section
 * the API refuses everyone.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly self?: ServerConfig;

  constructor(
    private readonly config: ToolgateConfig,
    private readonly tokens: TokenService,
  ) {
    const a = config.admin;
    if (a) this.self = { id: `${RESERVED_SERVER_ID_PREFIX}_admin`, resource: a.audience, issuers: [a.issuer], scopes_supported: [a.scope] };
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { caller?: Caller }>();
    if (!this.self) throw new CallerUnauthorizedError('caller_forbidden', 'the admin API is disabled: configure `admin`');
    const v = await authenticateBearer(this.tokens, req.headers.authorization, this.self, {
      realm: 'toolgate-admin',
      what: 'the admin token',
      scope: this.config.admin!.scope,
    });
    const subject = String(v.claims.sub ?? '');
    req.caller = { subject };
    return true;
  }
}
