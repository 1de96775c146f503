import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../common/errors.js';
import { AdminAuthGuard, type AdminCaller } from '../token/admin-auth.guard.js';
import { ConsoleApiService } from './console-api.service.js';
import { BUSY, DECISION, DECISIONS, DIFF, OVERVIEW, REPORTS, REVISIONS, SHADOW, SOURCES, WHOAMI } from './admin-read.openapi.js';
import { MAX_LIMIT, parseDecisionFilter } from './decision-query.js';

const HASH = /^sha256:[0-9a-f]{64}$/;

function contentHash(name: string, v: unknown): string {
  if (typeof v !== 'string' || !HASH.test(v)) throw new BadRequestError('invalid_request', `${name}: expected a content hash sha256:<64 hex>`);
  return v;
}

/**
 * The admin read API the console uses (and any operator tool may): who am I,
 * overview, recorded decisions, revisions with sources and diffs, shadow and
 * reports. Bearer admin tokens with `admin.read_scope` or `admin.scope`; no
 * cookies are read and no CORS headers are sent, so only same-origin pages or
 * non-browser clients holding a token can call it.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@UseGuards(AdminAuthGuard)
export class AdminReadController {
  constructor(private readonly api: ConsoleApiService) {}

  @Get('whoami')
  @ApiOkResponse({ schema: WHOAMI })
  @ApiOperation({ summary: 'The admin token’s subject, client and scopes, and whether it may change revocations (never the token).' })
  whoami(@Req() req: FastifyRequest & { caller?: AdminCaller }) {
    const c = req.caller!;
    return { sub: c.subject, ...(c.clientId ? { client_id: c.clientId } : {}), scopes: [...c.scopes], can_admin: c.canAdmin };
  }

  @Get('overview')
  @ApiResponse(BUSY)
  @ApiOkResponse({ schema: OVERVIEW })
  @ApiOperation({ summary: 'Active revision, last failed activation, decisions per 10 s over 10 min by result and code, token cache, JWKS health, shadow.' })
  overview() {
    return this.api.overview();
  }

  @Get('decisions')
  @ApiResponse(BUSY)
  @ApiOperation({ summary: 'Recorded decisions, newest first, from the file sink’s recent events (bounded tail) or the PostgreSQL store.' })
  @ApiQuery({ name: 'since', required: false, description: 'ISO 8601 time or epoch seconds' })
  @ApiQuery({ name: 'until', required: false, description: 'ISO 8601 time or epoch seconds' })
  @ApiQuery({ name: 'server', required: false })
  @ApiQuery({ name: 'tool', required: false })
  @ApiQuery({ name: 'subject', required: false, description: 'subject fingerprint (24 hex), token fingerprint or subject' })
  @ApiQuery({ name: 'code', required: false })
  @ApiQuery({ name: 'revision', required: false, description: 'revision label or content hash' })
  @ApiQuery({ name: 'result', required: false, enum: ['allow', 'deny'] })
  @ApiQuery({ name: 'limit', required: false, description: `1-${MAX_LIMIT}, default 50` })
  @ApiQuery({ name: 'before', required: false, description: 'cursor: next_before of the previous page' })
  @ApiOkResponse({ schema: DECISIONS })
  decisions(@Query() q: Record<string, unknown>) {
    return this.api.decisions(parseDecisionFilter(q ?? {}));
  }

  @Get('decisions/:id')
  @ApiResponse(BUSY)
  @ApiOkResponse({ schema: DECISION })
  @ApiOperation({ summary: 'One recorded (masked) event and its shadow outcome, if sampled.' })
  decision(@Param('id') id: string) {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new BadRequestError('invalid_request', 'id: expected a decision id');
    return this.api.decision(id);
  }

  @Get('revisions')
  @ApiOkResponse({ schema: REVISIONS })
  @ApiOperation({ summary: 'Activated revisions, newest first, and whether their sources are kept.' })
  revisions() {
    return this.api.revisions();
  }

  @Get('revisions/diff')
  @ApiOkResponse({ schema: DIFF })
  @ApiOperation({ summary: 'Unified diff of the Rego and data files between two kept revisions.' })
  @ApiQuery({ name: 'from', required: true, description: 'content hash' })
  @ApiQuery({ name: 'to', required: true, description: 'content hash' })
  diff(@Query('from') from: unknown, @Query('to') to: unknown) {
    return this.api.diff(contentHash('from', from), contentHash('to', to));
  }

  @Get('revisions/:content_hash/sources')
  @ApiOkResponse({ schema: SOURCES })
  @ApiOperation({ summary: 'The Rego, data and manifest files of a kept revision, from its bundle.' })
  sources(@Param('content_hash') hash: string) {
    return this.api.sources(contentHash('content_hash', hash));
  }

  @Get('shadow')
  @ApiOkResponse({ schema: SHADOW })
  @ApiOperation({ summary: 'Shadow evaluation status and recent divergences, or {enabled: false}.' })
  shadow() {
    return this.api.shadow();
  }

  @Get('reports')
  @ApiOkResponse({ schema: REPORTS })
  @ApiOperation({ summary: 'JSON reports (toolgate replay / privileges) in console.reports_dir, newest first.' })
  reports() {
    return this.api.reports();
  }

  @Get('reports/:name')
  @ApiOperation({ summary: 'One report’s JSON, byte for byte as the file holds it.' })
  async report(@Param('name') name: string, @Res({ passthrough: true }) reply: FastifyReply) {
    const bytes = await this.api.report(name);
    void reply.type('application/json; charset=utf-8');
    return bytes;
  }
}
