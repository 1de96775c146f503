import { Injectable, Logger, type OnModuleInit, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answerFor } from '../common/error.filter.js';
import { refuseEarly } from '../common/http-edge.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { ANONYMOUS, CallerAuthGuard, type Caller } from '../token/caller-auth.guard.js';
import { parseAuthenticateRequest, parseDecisionRequest, parseListRequest, parseToolsRequest } from './decision-request.js';
import { AuthenticateRequestDto, DecisionRequestDto, DecisionResponseDto, ErrorResponseDto, ListRequestDto, ToolsRequestDto, ToolsResponseDto } from './decision.dto.js';
import { DecisionService } from './decision.service.js';

interface Deps {
  decisions: DecisionService;
  config: ToolgateConfig;
  auth: CallerAuthGuard;
}

/** One decision route: what it serves and how OpenAPI describes it. */
interface DecisionRoute {
  path: string;
  operationId: string;
  summary: string;
  request: Type;
  response: Type;
  okDescription: string;
  run(d: Deps, body: unknown, caller: Caller): Promise<unknown>;
}

/**
 * The decision API an MCP server calls on every request. This table is the
 * only implementation of these routes: they are plain Fastify routes
 * (registered by DecisionRoutes below), not a Nest controller, because Nest's
 * per-request pipeline (execution context, guard and filter resolution, param
 * factories) measured about 25% of a decision's HTTP cost. Nest guards,
 * interceptors and pipes therefore never see them: each handler authenticates
 * the caller, parses the body by hand (decision-request.ts) and maps errors
 * through answerFor, like the rest of the API.
 */
export const DECISION_ROUTES: readonly DecisionRoute[] = [
  {
    path: '/v1/decisions',
    operationId: 'decide',
    summary: 'Decide one request: tools/call, resources/read, prompts/get, completion/complete, or one listed item.',
    request: DecisionRequestDto,
    response: DecisionResponseDto,
    okDescription: 'The decision; a deny is a 200 with allow: false.',
    run: (d, body, caller) => d.decisions.decide(parseDecisionRequest(body, d.config.limits), caller),
  },
  {
    path: '/v1/decisions/tools',
    operationId: 'filterTools',
    summary: 'Filter a tools/list answer to the tools the caller may see.',
    request: ToolsRequestDto,
    response: ToolsResponseDto,
    okDescription: '`allowed` holds the names of the tools the caller may see.',
    run: (d, body, caller) => d.decisions.filterTools(parseToolsRequest(body, d.config.limits), caller),
  },
  {
    path: '/v1/decisions/list',
    operationId: 'filterList',
    summary: 'Filter a tools/, resources/ or prompts/list answer to the items the caller may see.',
    request: ListRequestDto,
    response: ToolsResponseDto,
    okDescription: '`allowed` holds the names (tools, prompts) or URIs (resources) the caller may see.',
    run: (d, body, caller) => d.decisions.filterList(parseListRequest(body, d.config.limits), caller),
  },
  {
    path: '/v1/decisions/authenticate',
    operationId: 'authenticate',
    summary: 'Authenticate a request no policy action covers (initialize, ping, notifications).',
    request: AuthenticateRequestDto,
    response: DecisionResponseDto,
    okDescription: 'allow: true when the token verifies for the server; otherwise the same deny as a decision.',
    run: (d, body, caller) => d.decisions.authenticate(parseAuthenticateRequest(body, d.config.limits), caller),
  },
];

/** Registers the decision routes on `fastify`: authenticate the caller, run, answer 200, or map the error. */
export function registerDecisionRoutes(fastify: FastifyInstance, deps: Deps): void {
  const log = new Logger('DecisionRoutes');
  // With callers.auth: none every caller is anonymous: no await (and no promise) for it on each request.
  const open = deps.config.callers.auth !== 'jwt';
  // With callers.auth: jwt the caller is authenticated from its headers in onRequest, before a byte of the
  // body is read: an unknown caller cannot make toolgate read (or wait for) a large or trickled body.
  const authenticate = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    deps.auth.authenticate(req).then(
      (caller) => {
        callers.set(req, caller);
        done();
      },
      (err: unknown) => {
        const a = answerFor(err, log);
        refuseEarly(reply, a.status, a.body.code, a.body.message, a.headers);
      },
    );
  };
  const callers = new WeakMap<FastifyRequest, Caller>();
  for (const r of DECISION_ROUTES) {
    fastify.post(r.path, { onRequest: open ? undefined : authenticate }, async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        const caller = open ? ANONYMOUS : callers.get(req);
        if (!caller) throw new Error('decision route: no authenticated caller');
        return reply.code(200).send(await r.run(deps, req.body, caller));
      } catch (err) {
        const a = answerFor(err, log);
        if (a.headers) for (const [k, v] of Object.entries(a.headers)) void reply.header(k, v);
        return reply.code(a.status).send(a.body);
      }
    });
  }
}

/** The DTO classes the decision routes' OpenAPI description refers to (SwaggerModule `extraModels`). */
export const DECISION_MODELS: Type[] = [...new Set(DECISION_ROUTES.flatMap((r) => [r.request, r.response])), ErrorResponseDto];

/** Adds the decision routes to an OpenAPI document built with DECISION_MODELS as extra models. */
export function describeDecisionRoutes(doc: OpenAPIObject): void {
  const ref = (t: Type) => ({ $ref: `#/components/schemas/${t.name}` });
  const json = (t: Type) => ({ 'application/json': { schema: ref(t) } });
  for (const r of DECISION_ROUTES) {
    doc.paths[r.path] = {
      post: {
        operationId: r.operationId,
        summary: r.summary,
        tags: ['decisions'],
        requestBody: { required: true, content: json(r.request) },
        responses: {
          '200': { description: r.okDescription, content: json(r.response) },
          '400': { description: 'Malformed request: {code, message}.', content: json(ErrorResponseDto) },
          '401': { description: 'The caller of toolgate is not authenticated (callers.auth: jwt).', content: json(ErrorResponseDto) },
          '403': { description: "The caller's token lacks the caller scope.", content: json(ErrorResponseDto) },
          '503': { description: 'No policy is loaded.', content: json(ErrorResponseDto) },
        },
      },
    };
  }
}

/**
 * Registers the decision routes when the application starts, on Nest's
 * Fastify instance (so they exist however the app is built), with the
 * services from Nest's container.
 */
@Injectable()
export class DecisionRoutes implements OnModuleInit {
  constructor(
    private readonly host: HttpAdapterHost,
    private readonly decisions: DecisionService,
    private readonly config: ToolgateConfig,
    private readonly auth: CallerAuthGuard,
  ) {}

  onModuleInit(): void {
    const adapter = this.host.httpAdapter as HttpAdapterHost['httpAdapter'] | undefined;
    // No HTTP adapter: an application context (no routes at all).
    if (!adapter) return;
    if (adapter.getType() !== 'fastify') throw new Error('the decision routes need the Fastify adapter');
    registerDecisionRoutes(adapter.getInstance<FastifyInstance>(), { decisions: this.decisions, config: this.config, auth: this.auth });
  }
}
