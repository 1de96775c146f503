import { randomUUID } from 'node:crypto';
import { Injectable, Logger, Optional } from '@nestjs/common';
import type { DecisionEvent, ShadowRecord } from '../audit/decision-event.js';
import { AuditService } from '../audit/audit.service.js';
import { BadRequestError, PolicyUnavailableError, describeThrown } from '../common/errors.js';
import { stripBearer } from '../common/bearer.js';
import { TOOLGATE_VERSION } from '../version.js';
import { DECISION_ENTRYPOINT, LIST_ENTRYPOINT, LIST_WRAPPER_ENTRYPOINT, readListAnswers, readPolicyAnswer, type PolicyAnswer, type PolicyInput } from '../contract/policy-contract.js';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { evaluationPool, EvaluationTimeoutError } from '../cluster/evaluation-pool.js';
import type { ItemResult } from '../cluster/evaluation-protocol.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { admitAssertion } from '../token/asserted-claims.js';
import { ANONYMOUS, callerName, type Caller } from '../token/caller-auth.guard.js';
import { clientOf, type ClientInput } from '../token/client-id.js';
import { ShadowService } from '../shadow/shadow.service.js';
import { TokenError } from '../token/token-errors.js';
import { RevokedTokenError, TokenService } from '../token/token.service.js';
import type { VerifiedToken } from '../token/token-verifier.js';
import { tokenFingerprint } from '../token/token-verifier.js';
import type { AuthenticateRequest, DecisionRequest, ListKind, ListRequest, ToolsRequest } from './decision-request.js';
import type { DecisionResult, ToolsResult } from './decision-result.js';
import { isoTime } from './iso-time.js';
import { denyCode, POLICY_ERROR_REASONS } from './policy-answer.js';
import { insufficientScopeChallenge, invalidTokenChallenge } from './www-authenticate.js';

// Declared apart so the MCP guard's public types do not pull in Nest.
export type { DecisionResult, ToolsResult } from './decision-result.js';

/** The client of each verified claims object: a cached token's claims are one object, so its client is worked out once. */
const clients = new WeakMap<object, ClientInput | null>();

function clientOfToken(token: VerifiedToken): ClientInput | undefined {
  let c = clients.get(token.claims);
  if (c === undefined) {
    c = clientOf(token.claims) ?? null;
    clients.set(token.claims, c);
  }
  return c ?? undefined;
}

/** The policy input of a decision: the contract's fields and the token's client (README, "Policy contract"). */
type DecisionInput = PolicyInput & { client?: ClientInput };

/**
 * The policy input of a request (README, "Policy contract"): with a verified
 * token, its claims, scopes and client first; then the action, `kind` for
 * lists, the one subject field the action carries, and the time. Built field
 * by field, not by spreading: this runs once per decision.
 */
function policyInput(req: DecisionRequest, token: VerifiedToken | undefined, time: string): DecisionInput {
  const input = {} as DecisionInput;
  if (token) {
    input.claims = token.claims;
    input.scopes = token.scopes;
    const client = clientOfToken(token);
    if (client) input.client = client;
  }
  input.server = req.server;
  input.action = req.action;
  if (req.kind) input.kind = req.kind;
  if (req.tool) input.tool = req.tool;
  if (req.resource) input.resource = req.resource;
  if (req.prompt) input.prompt = req.prompt;
  if (req.completion) input.completion = req.completion;
  input.time = time;
  return input;
}

/** The subject of one listed item, as `action: "list"` sees it. */
function listedSubject(kind: ListKind, id: string, annotations: Record<string, unknown>): Pick<PolicyInput, 'tool' | 'resource' | 'prompt'> {
  if (kind === 'tool') return { tool: { name: id, arguments: {}, annotations } };
  if (kind === 'resource') return { resource: { uri: id } };
  return { prompt: { name: id, arguments: {} } };
}

/** The policy input fields that come from the token: claims, scopes and, when the token names one, the client. */
function tokenInput(token: VerifiedToken): Record<string, unknown> {
  const client = clientOfToken(token);
  return client ? { claims: token.claims, scopes: token.scopes, client } : { claims: token.claims, scopes: token.scopes };
}

/** The list rule a policy is asked for a whole list: its own, else toolgate's wrapper; none in bundles built before either existed. */
function listEntrypoint(policy: WasmPolicy): string | undefined {
  const eps = policy.info.entrypoints;
  if (eps[LIST_ENTRYPOINT] !== undefined) return LIST_ENTRYPOINT;
  if (eps[LIST_WRAPPER_ENTRYPOINT] !== undefined) return LIST_WRAPPER_ENTRYPOINT;
  return undefined;
}

/** What every decision path starts from (DecisionService.begin). */
interface Begun {
  /** performance.now() at the start. */
  started: number;
  requestedBy: string;
  server: ServerConfig;
  /** Taken once: the request is decided by exactly this revision, whatever reloads meanwhile. */
  active: ActivePolicy;
  decisionId: string;
  /** Request time, ms since the epoch. */
  now: number;
}

/** A request's credential: what every decision request carries. */
interface Credential {
  server: string;
  token: string;
  claims?: Record<string, unknown>;
}

/** What one decision-log event is made of (DecisionService.event). */
interface EventFacts {
  kind: DecisionEvent['kind'];
  begun: Begun;
  /** The policy input (for list filters: the request, summarized). */
  input: DecisionInput | Record<string, unknown>;
  /** What the policy answered, if it was asked. */
  answer: unknown;
  result: DecisionResult;
  /** The request's credential: the token as sent (fingerprinted when it never verified), or the claims a gateway asserted. */
  req: { token: string; claims?: Record<string, unknown> };
  token: VerifiedToken | undefined;
  metrics: Record<string, number>;
}

/**
 * Decides tool calls: verify the token, evaluate the active policy over the
 * verified claims, translate the answer into what the MCP server must say,
 * and log one event. Every path that is not an explicit `allow: true` from a
 * well-formed policy answer is a deny.
 */
@Injectable()
export class DecisionService {
  private readonly log = new Logger('DecisionService');
  private readonly servers: Map<string, ServerConfig>;
  private readonly labels: Record<string, string>;

  constructor(
    config: ToolgateConfig,
    private readonly store: PolicyStore,
    private readonly tokens: TokenService,
    private readonly metrics: MetricsService,
    private readonly audit: AuditService,
    // Optional so embedders (the MCP guard's in-process decider) need not run a shadow.
    @Optional() private readonly shadow?: ShadowService,
  ) {
    this.servers = new Map(config.servers.map((s) => [s.id, s]));
    this.labels = { id: config.instance_id, app: 'toolgate', version: TOOLGATE_VERSION };
  }

  /**
   * The preamble of every decision path: asserted claims only from a caller
   * that may assert them, a configured server, an active policy (else 503:
   * an unready toolgate refuses everything), a decision id and the time.
   */
  private begin(req: Credential, caller: Caller): Begun {
    const started = performance.now();
    if (req.claims !== undefined) admitAssertion(caller);
    const server = this.servers.get(req.server);
    if (!server) throw new BadRequestError('unknown_server', `server "${req.server}" is not configured`);
    const active = this.store.current();
    if (!active) throw new PolicyUnavailableError();
    return { started, requestedBy: callerName(caller), server, active, decisionId: randomUUID(), now: Date.now() };
  }

  /**
   * The token's verified facts: from the token, or from the claims a trusted
   * gateway asserted (the caller was admitted by begin). Synchronous on a
   * cache hit; throws TokenError.
   */
  private credential(req: Credential, server: ServerConfig): VerifiedToken | Promise<VerifiedToken> {
    return req.claims !== undefined ? this.tokens.acceptAsserted(req.claims, server) : this.tokens.verify(req.token, server);
  }

  /** The deny for an error on a decision path, and the token it concerned when it was verified but revoked (for the log). */
  private refused(e: unknown, b: Begun): { result: DecisionResult; token?: VerifiedToken } {
    return { result: this.denyFor(e, b.decisionId, b.active.revision, b.server), token: e instanceof RevokedTokenError ? e.token : undefined };
  }

  /** Decides one request: a tool call, resource read, prompt get, completion, or one item's visibility ("list"). */
  async decide(req: DecisionRequest, caller: Caller = ANONYMOUS): Promise<DecisionResult> {
    const b = this.begin(req, caller);
    const { active, now } = b;
    let token: VerifiedToken | undefined;
    let input: DecisionInput | undefined;
    let answer: unknown;
    let result: DecisionResult;
    let verified = 0;
    try {
      token = await this.credential(req, b.server);
      verified = performance.now();
      input = policyInput(req, token, isoTime(now));
      const pool = evaluationPool();
      // In a cluster worker the evaluation runs on a thread of its own, bounded by limits.evaluation_ms.
      answer = pool ? await pool.evaluate(active.policy, DECISION_ENTRYPOINT, input, now * 1e6) : active.policy.evaluate(DECISION_ENTRYPOINT, input, { nowNs: now * 1e6 });
      result = this.toResult(b.decisionId, active.revision, b.server, readPolicyAnswer(answer));
    } catch (e) {
      if (verified === 0) verified = performance.now();
      // A token that verified keeps its subject in the log when the policy then fails.
      const r = this.refused(e, b);
      result = r.result;
      token = r.token ?? token;
    }
    const done = performance.now();
    this.metrics.recordDecision('decide', result.allow, result.code, done - b.started);
    // Only a decision whose policy ran has an input a candidate can evaluate; the shadow runs after the answer.
    // A refused (stuck) evaluation is not re-run on the candidate: it would stall this loop.
    const shadowed = input !== undefined && result.code !== 'evaluation_timeout' && this.shadow?.enabled === true;
    if (!this.audit.enabled && !shadowed) return result;
    // Without a verified token the event shows what was asked: the input without claims.
    const logged = input ?? policyInput(req, undefined, isoTime(now));
    const metrics = { timer_token_verify_ns: Math.round((verified - b.started) * 1e6), timer_server_handler_ns: Math.round((done - b.started) * 1e6) };
    const event = this.audit.enabled ? this.event({ kind: 'decision', begun: b, input: logged, answer, result, req, token, metrics }) : undefined;
    const log = event ? (shadow?: ShadowRecord) => this.audit.record(shadow ? { ...event, shadow } : event, active.policy) : undefined;
    if (shadowed) this.shadow!.observe({ decisionId: b.decisionId, input: logged, nowMs: now, allow: result.allow, code: result.code }, log);
    else log?.();
    return result;
  }

  /** Filters a tools/list answer to the tools this caller may see. */
  filterTools(req: ToolsRequest, caller: Caller = ANONYMOUS): Promise<ToolsResult> {
    const items = req.tools.map((t) => ({ id: t.name, annotations: t.annotations }));
    return this.filterList({ token: req.token, claims: req.claims, server: req.server, kind: 'tool', items }, caller, 'tools');
  }

  /**
   * Filters a tools/list, resources/list or prompts/list answer to the items
   * this caller may see: each item is evaluated with action "list" and the kind.
   */
  async filterList(req: ListRequest, caller: Caller = ANONYMOUS, eventKind: 'tools' | 'list' = 'list'): Promise<ToolsResult> {
    const b = this.begin(req, caller);
    const { active, now, decisionId } = b;
    const time = isoTime(now);
    // Each item's subject exactly as its evaluation sees it (annotations included): evaluated, then logged.
    const subjects = req.items.map((t) => listedSubject(req.kind, t.id, t.annotations));
    let token: VerifiedToken | undefined;
    let out: ToolsResult;
    try {
      token = await this.credential(req, b.server);
      const shared = { ...tokenInput(token), server: req.server, action: 'list', kind: req.kind, time };
      const shown = await this.listVisible(active.policy, req, shared, subjects, now);
      const allowed = req.items.filter((_, i) => shown[i]).map((item) => item.id);
      out = { decision_id: decisionId, allowed, revision: active.revision };
    } catch (e) {
      const r = this.refused(e, b);
      token = r.token;
      const d = r.result;
      out = { decision_id: decisionId, allowed: [], revision: active.revision, code: d.code, http_status: d.http_status, www_authenticate: d.www_authenticate, reasons: d.reasons };
    }
    const done = performance.now();
    this.metrics.recordDecision(eventKind, out.code === undefined, out.code, done - b.started);
    if (this.audit.enabled) {
      // The items as evaluated, so replay can re-evaluate every one through decision.
      const input: Record<string, unknown> = { server: req.server, action: 'list', kind: req.kind, items: subjects, time };
      if (token && out.code === undefined) Object.assign(input, tokenInput(token));
      const result = { decision_id: decisionId, allow: out.code === undefined, reasons: out.reasons ?? [], revision: out.revision, code: out.code, http_status: out.http_status };
      const answer = out.code === undefined ? { allowed: out.allowed } : undefined;
      const metrics = { timer_server_handler_ns: Math.round((done - b.started) * 1e6) };
      const event = this.event({ kind: eventKind, begun: b, input, answer, result, req, token, metrics });
      event.outcome.allowed = out.allowed;
      this.audit.record(event, active.policy);
    }
    return out;
  }

  /**
   * Which items of a list the caller may see, in one evaluation: the policy's
   * own list rule (LIST_ENTRYPOINT) when it exports one, else the wrapper
   * toolgate builds into every bundle (LIST_WRAPPER_ENTRYPOINT). Each element
   * of the answer is read as `decision`'s answer for that item would be. A
   * bundle with neither, or a list answer that fails or is malformed as a
   * whole, is decided item by item through `decision`, as before. Fails
   * closed per item: an item whose visibility cannot be decided is hidden.
   */
  private async listVisible(policy: WasmPolicy, req: ListRequest, shared: Record<string, unknown>, subjects: object[], now: number): Promise<boolean[]> {
    const nowNs = now * 1e6;
    // In a cluster worker evaluations run on an evaluation thread, bounded by limits.evaluation_ms (past it: EvaluationTimeoutError, refused).
    const pool = evaluationPool();
    const visible = (answer: () => unknown, i: number): boolean => {
      try {
        return readPolicyAnswer(answer()).allow;
      } catch (e) {
        this.log.warn(`list evaluation failed for ${req.kind} ${req.items[i].id}: ${describeThrown(e)}`);
        return false;
      }
    };
    const entrypoint = listEntrypoint(policy);
    if (entrypoint && subjects.length > 0) {
      let answers: unknown[] | undefined;
      try {
        const input = { ...shared, items: subjects };
        const raw = pool ? await pool.evaluate(policy, entrypoint, input, nowNs) : policy.evaluate(entrypoint, input, { nowNs });
        answers = readListAnswers(raw, subjects.length);
      } catch (e) {
        // A list that ran out of time is refused as a whole, not decided again item by item.
        if (e instanceof EvaluationTimeoutError) throw e;
        this.log.warn(`${entrypoint} failed for a list of ${subjects.length} ${req.kind}s; deciding each item: ${describeThrown(e)}`);
      }
      if (answers) return answers.map((a, i) => visible(() => a, i));
    }
    const inputs = subjects.map((subject) => ({ ...shared, ...subject }));
    if (pool) {
      const outcomes: ItemResult[] = await pool.evaluateEach(policy, DECISION_ENTRYPOINT, inputs, nowNs);
      return inputs.map((_, i) =>
        visible(() => {
          const o = outcomes[i];
          if (!o) throw new Error('no answer from the evaluation thread');
          if (!o.ok) throw new Error(o.message);
          return o.v;
        }, i),
      );
    }
    return inputs.map((input, i) => visible(() => policy.evaluate(DECISION_ENTRYPOINT, input, { nowNs }), i));
  }


  /**
   * Authenticates a request that no policy action covers (initialize, ping,
   * notifications, the list methods before filtering): the token must verify
   * for this server, exactly as for a decision, but no policy is evaluated.
   * A policy must still be active, so an unready toolgate refuses everything.
   */
  async authenticate(req: AuthenticateRequest, caller: Caller = ANONYMOUS): Promise<DecisionResult> {
    const b = this.begin(req, caller);
    let token: VerifiedToken | undefined;
    let result: DecisionResult;
    try {
      token = await this.credential(req, b.server);
      result = { decision_id: b.decisionId, allow: true, reasons: [], revision: b.active.revision };
    } catch (e) {
      ({ result, token } = this.refused(e, b));
    }
    const done = performance.now();
    this.metrics.recordDecision('authenticate', result.allow, result.code, done - b.started);
    // Only refusals are logged: a log line per ping or initialize would drown the decisions.
    if (this.audit.enabled && !result.allow) {
      const input = { server: req.server, action: 'authenticate', time: isoTime(b.now) };
      const metrics = { timer_token_verify_ns: Math.round((done - b.started) * 1e6) };
      this.audit.record(this.event({ kind: 'authenticate', begun: b, input, answer: undefined, result, req, token, metrics }), b.active.policy);
    }
    return result;
  }

  private toResult(decisionId: string, revision: string, server: ServerConfig, a: PolicyAnswer): DecisionResult {
    if (a.allow) return { decision_id: decisionId, allow: true, reasons: a.reasons, revision };
    if (denyCode(a) === 'insufficient_scope') {
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
      if (e.code === 'issuer_unavailable' || e.code === 'revocation_stale') {
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
    if (e instanceof EvaluationTimeoutError) {
      // Fail closed, and retryable: the evaluation was stopped, not decided.
      return { decision_id: decisionId, allow: false, reasons: [e.message], revision, code: e.code, http_status: 503 };
    }
    // Anything else on the decision path (policy abort, bad policy answer, a bug) is a deny.
    this.log.error(`decision ${decisionId} failed closed: ${describeThrown(e)}`);
    return {
      decision_id: decisionId,
      allow: false,
      reasons: [...POLICY_ERROR_REASONS],
      revision,
      code: 'policy_error',
      http_status: 500,
    };
  }

  private event(e: EventFacts): DecisionEvent {
    const { result, token, req } = e;
    const { decisionId, now, active, requestedBy } = e.begun;
    const c = token?.claims as Record<string, unknown> | undefined;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return {
      decision_id: decisionId,
      timestamp: new Date(now).toISOString(),
      path: DECISION_ENTRYPOINT,
      kind: e.kind,
      input: e.input,
      result: e.answer,
      outcome: { allow: result.allow, code: result.code, http_status: result.http_status },
      revision: active.revision,
      bundles: { toolgate: { revision: active.revision, content_hash: active.contentHash } },
      labels: this.labels,
      requested_by: requestedBy,
      token: {
        fingerprint: token?.fingerprint ?? (req.token ? tokenFingerprint(stripBearer(req.token)) : undefined),
        issuer: token?.issuer,
        subject: str(c?.sub),
        client_id: token ? clientOfToken(token)?.id : undefined,
        jti: str(c?.jti),
        cached: token?.cached,
        // Claims a gateway asserted, refused or not: requested_by names the gateway.
        asserted: req.claims !== undefined ? true : undefined,
      },
      metrics: e.metrics,
    };
  }
}
