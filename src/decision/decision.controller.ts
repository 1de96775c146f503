import { Body, Controller, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { ToolgateConfig } from '../config/config.schema.js';
import { ANONYMOUS, CallerAuthGuard, type Caller } from '../token/caller-auth.guard.js';
import { parseAuthenticateRequest, parseDecisionRequest, parseListRequest, parseToolsRequest } from './decision-request.js';
import {
  AuthenticateRequestDto,
  DecisionRequestDto,
  ListRequestDto,
  DecisionResponseDto,
  ErrorResponseDto,
  ToolsRequestDto,
  ToolsResponseDto,
} from './decision.dto.js';
import { DecisionService, type DecisionResult, type ToolsResult } from './decision.service.js';

/**
 * The decision API MCP servers call on every request: decisions (tools/call,
 * resources/read, prompts/get, completion/complete), list filters, and
 * authentication of the requests no policy action covers.
 * In the running service these routes are served by the equivalent plain
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
    return this.decisions.decide(parseDecisionRequest(body, this.config.limits), req.caller ?? ANONYMOUS);
  }

  @Post('tools')
  @HttpCode(200)
  @ApiBody({ type: ToolsRequestDto })
  @ApiOkResponse({ type: ToolsResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto })
  tools(@Body() body: unknown, @Req() req: { caller?: Caller }): Promise<ToolsResult> {
    return this.decisions.filterTools(parseToolsRequest(body, this.config.limits), req.caller ?? ANONYMOUS);
  }

  @Post('list')
  @HttpCode(200)
  @ApiBody({ type: ListRequestDto })
  @ApiOkResponse({ type: ToolsResponseDto, description: '`allowed` holds the names (tools, prompts) or URIs (resources) the caller may see.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto })
  list(@Body() body: unknown, @Req() req: { caller?: Caller }): Promise<ToolsResult> {
    return this.decisions.filterList(parseListRequest(body, this.config.limits), req.caller ?? ANONYMOUS);
  }

  @Post('authenticate')
  @HttpCode(200)
  @ApiBody({ type: AuthenticateRequestDto })
  @ApiOkResponse({ type: DecisionResponseDto, description: 'allow: true when the token verifies for the server; otherwise the same deny as a decision.' })
  @ApiBadRequestResponse({ type: ErrorResponseDto })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto })
  authenticate(@Body() body: unknown, @Req() req: { caller?: Caller }): Promise<DecisionResult> {
    return this.decisions.authenticate(parseAuthenticateRequest(body, this.config.limits), req.caller ?? ANONYMOUS);
  }
}
