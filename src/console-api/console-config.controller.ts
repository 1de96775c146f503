import { Controller, Get, Header, NotFoundException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ToolgateConfig } from '../config/config.schema.js';
import { CONSOLE_CONFIG } from './admin-read.openapi.js';

/** What the console needs before sign-in: where the admin API is and how to get a token. Public: it holds no secret. */
@ApiTags('console')
@Controller('console')
export class ConsoleConfigController {
  constructor(private readonly config: ToolgateConfig) {}

  @Get('config.json')
  @Header('cache-control', 'no-store')
  @Header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
  @Header('x-content-type-options', 'nosniff')
  @Header('referrer-policy', 'no-referrer')
  @ApiOperation({ summary: 'The console’s sign-in configuration (no authentication; 404 when console.enabled is false).' })
  @ApiOkResponse({ schema: CONSOLE_CONFIG })
  get() {
    const c = this.config;
    if (!c.console.enabled || !c.admin) throw new NotFoundException('the console is disabled (console.enabled: false)');
    const o = c.console.oauth;
    return {
      admin_audience: c.admin.audience,
      api_base: '/v1/admin',
      read_scope: c.admin.read_scope,
      admin_scope: c.admin.scope,
      oauth: o ? { issuer: o.issuer, client_id: o.client_id, scopes: o.scopes, resource: c.admin.audience } : null,
    };
  }
}
