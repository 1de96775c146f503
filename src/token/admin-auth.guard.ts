import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { CallerUnauthorizedError } from '../common/errors.js';
import { RESERVED_SERVER_ID_PREFIX, ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import type { Caller } from './caller-auth.guard.js';
import { authenticateBearer } from './bearer-auth.js';
import { clientIdOf } from './client-id.js';
import { TokenService } from './token.service.js';

const ADMIN_WRITE = 'toolgate:admin-write';
/** Methods that only read: every other method on the admin API needs `admin.scope`. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** Marks a handler (or controller) of the admin API that changes state: it needs `admin.scope`, not only `admin.read_scope`. */
export const AdminWrite = (): MethodDecorator & ClassDecorator => SetMetadata(ADMIN_WRITE, true);

/** The admin API's caller, once authenticated; attached to the request as `caller`. */
export interface AdminCaller extends Caller {
  scopes: readonly string[];
  /** The token carries `admin.scope`: it may change revocations. */
  canAdmin: boolean;
}

/**
 * Protects the admin API: a bearer JWT from `admin.issuer`, for `admin.audience`,
 * that is not revoked (the same verify + revocation path as every other token),
 * carrying `admin.read_scope` or `admin.scope` to read (GET, HEAD), and
 * `admin.scope` for any other method and for a handler marked `@AdminWrite()`. Without an `admin` section the API refuses everyone.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly self?: ServerConfig;

  constructor(
    private readonly config: ToolgateConfig,
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
  ) {
    const a = config.admin;
    if (a) this.self = { id: `${RESERVED_SERVER_ID_PREFIX}_admin`, resource: a.audience, issuers: [a.issuer], scopes_supported: [a.read_scope, a.scope] };
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { caller?: Caller }>();
    if (!this.self) throw new CallerUnauthorizedError('caller_forbidden', 'the admin API is disabled: configure `admin`');
    const a = this.config.admin!;
    // Fail closed: a handler that changes state but forgot @AdminWrite() still needs the admin scope, as any non-GET/HEAD request does.
    const marked = this.reflector.getAllAndOverride<boolean | undefined>(ADMIN_WRITE, [ctx.getHandler(), ctx.getClass()]) === true;
    const write = marked || !READ_METHODS.has(String(req.method).toUpperCase());
    const v = await authenticateBearer(this.tokens, req.headers.authorization, this.self, {
      realm: 'toolgate-admin',
      what: 'the admin token',
      scope: write ? a.scope : a.read_scope,
      alternatives: write ? [] : [a.scope],
      forbidden: (scopes) =>
        write && scopes.includes(a.read_scope)
          ? `the admin token only has the read scope ${a.read_scope}; changing state needs ${a.scope}`
          : `the admin token has neither ${a.read_scope} nor ${a.scope}`,
    });
    const clientId = clientIdOf(v.claims);
    const caller: AdminCaller = { subject: String(v.claims.sub ?? ''), clientId, scopes: v.scopes, canAdmin: v.scopes.includes(a.scope) };
    req.caller = caller;
    return true;
  }
}
