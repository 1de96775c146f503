import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { RESERVED_SERVER_ID_PREFIX, ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { authenticateBearer } from './bearer-auth.js';
import { clientIdOf } from './client-id.js';
import { TokenService } from './token.service.js';

/** Who called toolgate, once authenticated; attached to the request. */
export interface Caller {
  subject: string;
  clientId?: string;
  /** The scopes of the caller's verified token; absent for a caller toolgate did not authenticate. */
  scopes?: readonly string[];
}

/** Any caller when `callers.auth` is `none`. */
export const ANONYMOUS: Caller = Object.freeze({ subject: 'anonymous' });

/** How the decision log names a caller (`requested_by`). */
export function callerName(c: Caller | undefined): string {
  if (!c) return 'anonymous';
  return c.clientId ? `${c.subject} (client ${c.clientId})` : c.subject;
}

/**
 * Authenticates callers of toolgate's own API when `callers.auth` is `jwt`:
 * a bearer JWT from the configured issuer, for toolgate's audience, with the
 * configured scope, and not revoked (verified and checked against revocations
 * like every other token). With `none` (loopback-only, enforced at config load) every
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
      this.self = { id: `${RESERVED_SERVER_ID_PREFIX}_callers`, resource: c.audience!, issuers: [c.issuer!], scopes_supported: [c.scope!] };
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
    const v = await authenticateBearer(this.tokens, req.headers.authorization, this.self, {
      realm: 'toolgate',
      what: "the caller's token",
      scope: this.config.callers.scope!,
    });
    const clientId = clientIdOf(v.claims);
    return clientId ? { subject: String(v.claims.sub ?? ''), clientId, scopes: v.scopes } : { subject: String(v.claims.sub ?? ''), scopes: v.scopes };
  }
}
