import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { BadRequestError, PolicyUnavailableError, describeThrown } from '../common/errors.js';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { MetricsService } from '../health/metrics.service.js';
import { DECISION_ENTRYPOINT } from '../policy-compiler/policy-builder.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { TokenError } from '../token/token-errors.js';
import { TokenService } from '../token/token.service.js';
import type { VerifiedToken } from '../token/token-verifier.js';
import type { DecisionRequest, ToolsRequest } from './decision-request.js';
import { insufficientScopeChallenge, invalidTokenChallenge } from './www-authenticate.js';

/** What `POST /v1/decisions` answers. */
export interface DecisionResult {
  decision_id: string;
  allow: boolean;
  reasons: string[];
  revision: string | null;
  code?: string;
  http_status?: number;
  www_authenticate?: string;
}

/** What `POST /v1/decisions/tools` answers. */
export interface ToolsResult {
  decision_id: string;
  allowed: string[];
  revision: string | null;
  code?: string;
  http_status?: number;
  www_authenticate?: string;
  reasons?: string[];
}

interface PolicyAnswer {
  allow: boolean;
  reasons: string[];
  requiredScopes: string[];
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/**
 * Decides tool calls: verify the token, evaluate the active policy over the
 * verified claims, translate the answer into what the MCP server must say.
 * Every path that is not an explicit `allow: true` from a well-formed policy
 * answer is a deny.
 */
@Injectable()
export class DecisionService {
  private readonly log = new Logger('DecisionService');
  private readonly servers: Map<string, ServerConfig>;

  constructor(
    config: ToolgateConfig,
    private readonly store: PolicyStore,
    private readonly tokens: TokenService,
    private readonly metrics: MetricsService,
  ) {
    this.servers = new Map(config.servers.map((s) => [s.id, s]));
  }

  private server(id: string): ServerConfig {
    const s = this.servers.get(id);
    if (!s) throw new BadRequestError('unknown_server', `server "${id}" is not configured`);
    return s;
  }

  private activePolicy(): ActivePolicy {
    const active = this.store.current();
    if (!active) throw new PolicyUnavailableError();
    return active;
  }

  /** Decides one tool call (or one tool's visibility with action "list"). */
  async decide(req: DecisionRequest): Promise<DecisionResult> {
    const started = performance.now();
    const server = this.server(req.server);
    // Taken once: this decision is made by exactly this revision, whatever reloads meanwhile.
    const active = this.activePolicy();
    const decisionId = randomUUID();
    let result: DecisionResult;
    try {
      const token = await this.tokens.verify(req.token, server);
      const answer = this.evaluate(active, token, req.server, req.action, req.tool);
      result = this.toResult(decisionId, active.revision, server, answer);
    } catch (e) {
      result = this.denyFor(e, decisionId, active.revision, server);
    }
    this.record('decide', result.allow, result.code, started);
    return result;
  }

  /** Filters a tools/list answer to the tools this caller may see. */
  async filterTools(req: ToolsRequest): Promise<ToolsResult> {
    const started = performance.now();
    const server = this.server(req.server);
    const active = this.activePolicy();
    const decisionId = randomUUID();
    let token: VerifiedToken;
    try {
      token = await this.tokens.verify(req.token, server);
    } catch (e) {
      const d = this.denyFor(e, decisionId, active.revision, server);
      this.record('tools', false, d.code, started);
      return { decision_id: decisionId, allowed: [], revision: active.revision, code: d.code, http_status: d.http_status, www_authenticate: d.www_authenticate, reasons: d.reasons };
    }
    const allowed: string[] = [];
    for (const t of req.tools) {
      const tool = { name: t.name, arguments: {}, annotations: t.annotations };
      try {
        if (this.evaluate(active, token, req.server, 'list', tool).allow) allowed.push(t.name);
      } catch (e) {
        // Fail closed per tool: a tool whose visibility cannot be decided is hidden.
        this.log.warn(`tools/list evaluation failed for ${t.name}: ${describeThrown(e)}`);
      }
    }
    this.record('tools', true, undefined, started);
    return { decision_id: decisionId, allowed, revision: active.revision };
  }

  private evaluate(
    active: ActivePolicy,
    token: VerifiedToken,
    server: string,
    action: 'call' | 'list',
    tool: DecisionRequest['tool'],
  ): PolicyAnswer {
    const now = Date.now();
    const input = {
      claims: token.claims,
      scopes: token.scopes,
      server,
      action,
      tool,
      time: new Date(now).toISOString(),
    };
    const out = active.policy.evaluate(DECISION_ENTRYPOINT, input, { nowNs: now * 1e6 }) as
      | { allow?: unknown; reasons?: unknown; required_scopes?: unknown }
      | undefined;
    if (!out || typeof out !== 'object' || typeof out.allow !== 'boolean') {
      throw new PolicyAnswerError('the policy answer has no boolean "allow"');
    }
    const reasons = out.reasons === undefined ? [] : out.reasons;
    const requiredScopes = out.required_scopes === undefined ? [] : out.required_scopes;
    if (!isStringArray(reasons) || !isStringArray(requiredScopes)) {
      throw new PolicyAnswerError('the policy answer\'s "reasons" and "required_scopes" must be arrays of strings');
    }
    return { allow: out.allow === true, reasons, requiredScopes };
  }

  private toResult(decisionId: string, revision: string, server: ServerConfig, a: PolicyAnswer): DecisionResult {
    if (a.allow) return { decision_id: decisionId, allow: true, reasons: a.reasons, revision };
    if (a.requiredScopes.length > 0) {
      return {
        decision_id: decisionId,
        allow: false,
        reasons: a.reasons,
        revision,
        code: 'insufficient_scope',
        http_status: 403,
        www_authenticate: insufficientScopeChallenge(server, a.requiredScopes),
      };
    }
    return { decision_id: decisionId, allow: false, reasons: a.reasons, revision, code: 'policy_denied', http_status: 403 };
  }

  private denyFor(e: unknown, decisionId: string, revision: string, server: ServerConfig): DecisionResult {
    if (e instanceof TokenError) {
      if (e.code === 'issuer_unavailable') {
        return { decision_id: decisionId, allow: false, reasons: [e.message], revision, code: e.code, http_status: 503 };
      }
      return {
        decision_id: decisionId,
        allow: false,
        reasons: [e.message],
        revision,
        code: e.code,
        http_status: 401,
        www_authenticate: invalidTokenChallenge(server, e.code, e.message),
      };
    }
    // Anything else on the decision path (policy abort, bad policy answer, a bug) is a deny.
    this.log.error(`decision ${decisionId} failed closed: ${describeThrown(e)}`);
    return {
      decision_id: decisionId,
      allow: false,
      reasons: ['the policy could not be evaluated; denied'],
      revision,
      code: 'policy_error',
      http_status: 500,
    };
  }

  private record(endpoint: string, allow: boolean, code: string | undefined, started: number): void {
    this.metrics.decisions.inc({ endpoint, result: allow ? 'allow' : 'deny', code: code ?? (allow ? 'allowed' : 'denied') });
    this.metrics.latency.observe({ endpoint }, (performance.now() - started) / 1000);
  }
}

class PolicyAnswerError extends Error {}
