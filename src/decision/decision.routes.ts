import { Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { answerFor } from '../common/error.filter.js';
import { ToolgateConfig } from '../config/config.schema.js';
import { CallerAuthGuard, type Caller } from '../token/caller-auth.guard.js';
export { callerName } from '../token/caller-auth.guard.js';
import { parseAuthenticateRequest, parseDecisionRequest, parseListRequest, parseToolsRequest } from './decision-request.js';
import { DecisionService } from './decision.service.js';

interface Deps {
  decisions: DecisionService;
  config: ToolgateConfig;
  auth: CallerAuthGuard;
}

/**
 * The hot routes (POST /v1/decisions, /v1/decisions/tools, /v1/decisions/list
 * and /v1/decisions/authenticate: an MCP server calls one per request) run as plain
 * Fastify handlers. Nest still declares them (DecisionController: routing table,
 * OpenAPI), but its per-request pipeline (execution context, guard and filter
 * resolution, param factories) measured ~25% of a decision's HTTP cost, so an
 * `onRoute` hook swaps in these handlers when Nest registers the routes. They do
 * exactly what the controller does: the same caller authentication, the same
 * request parsing, the same DecisionService, errors through the same answerFor.
 */
const swapped = new WeakMap<FastifyInstance, Set<string>>();

/** Routes whose handler the hook replaced on this instance (`POST /v1/decisions`, …). */
export function fastDecisionRoutes(fastify: FastifyInstance): string[] {
  return [...(swapped.get(fastify) ?? [])].sort();
}

export function installFastDecisionRoutes(fastify: FastifyInstance, deps: () => Deps): void {
  const log = new Logger('DecisionRoutes');
  let resolved: Deps | undefined;
  const fail = (reply: FastifyReply, err: unknown) => {
    const a = answerFor(err, log);
    if (a.headers) for (const [k, v] of Object.entries(a.headers)) void reply.header(k, v);
    return reply.code(a.status).send(a.body);
  };
  /** One hot route: authenticate the caller, run, answer 200, or map the error as ErrorFilter does. */
  const route =
    (run: (d: Deps, body: unknown, caller: Caller) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const d = (resolved ??= deps());
      try {
        const caller = await d.auth.authenticate(req);
        return reply.code(200).send(await run(d, req.body, caller));
      } catch (err) {
        return fail(reply, err);
      }
    };
  const decide = route((d, body, caller) => d.decisions.decide(parseDecisionRequest(body, d.config.limits), caller));
  const tools = route((d, body, caller) => d.decisions.filterTools(parseToolsRequest(body, d.config.limits), caller));
  const handlers: Record<string, RouteOptions['handler']> = {
    '/v1/decisions': decide,
    '/v1/decisions/tools': tools,
    '/v1/decisions/list': route((d, body, caller) => d.decisions.filterList(parseListRequest(body, d.config.limits), caller)),
    '/v1/decisions/authenticate': route((d, body, caller) => d.decisions.authenticate(parseAuthenticateRequest(body, d.config.limits), caller)),
  };
  const done = new Set<string>();
  swapped.set(fastify, done);
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if (route.method !== 'POST' || !Object.hasOwn(handlers, route.url)) return;
    route.handler = handlers[route.url];
    done.add(`POST ${route.url}`);
  });
}
