import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ToolgateConfig } from '../config/config.schema.js';
import { CallerAuthGuard, type Caller } from '../token/caller-auth.guard.js';
import { callerName } from './decision.routes.js';
import { parseDecisionRequest, parseToolsRequest } from './decision-request.js';
import {
  DecisionRequestDto,
  DecisionResponseDto,
  ErrorResponseDto,
  ToolsRequestDto,
  ToolsResponseDto,
} from './decision.dto.js';
import { DecisionService, type DecisionResult, type ToolsResult } from './decision.service.js';

/**
 * The decision API MCP servers call on every tools/call and tools/list.
 * In the running service these two routes are served by the equivalent plain
 * Fastify handlers of decision.routes.ts (installed by createApp); this
 * controller declares them for Nest's routing table and the OpenAPI document,
 * and serves them when the app is built without createApp.
 */
@ApiTags('decisions')
@Controller('v1/decisions')
@UseGuards(CallerAuthGuard)
export class DecisionController {
  constructor(
    private readonly decisions: DecisionService,
    private readonly config: ToolgateConfig,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiBody({ type: DecisionRequestDto })
  @ApiOkResponse({ type: DecisionResponseDto, description: 'The decision; a deny is a 200 with allow: false.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'No policy is loaded.' })
  decide(@Body() body: unknown, @Req() req: { caller?: Caller }): Promise<DecisionResult> {
    return this.decisions.decide(parseDecisionRequest(body, this.config.limits), callerName(req.caller));
  }

  @Post('tools')
  @HttpCode(200)
  @ApiBody({ type: ToolsRequestDto })
  @ApiOkResponse({ type: ToolsResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto })
  tools(@Body() body: unknown, @Req() req: { caller?: Caller }): Promise<ToolsResult> {
    return this.decisions.filterTools(parseToolsRequest(body, this.config.limits), callerName(req.caller));
  }
}
