import { AuditService } from '../audit/audit.service.js';
import { BadRequestError, PolicyUnavailableError, describeThrown } from '../common/errors.js';
import type { ToolgateConfig } from '../config/config.schema.js';
import { parseAuthenticateRequest, parseDecisionRequest, parseListRequest } from '../decision/decision-request.js';
import type { Caller } from '../token/caller-auth.guard.js';
import { DecisionService, type DecisionResult } from '../decision/decision.service.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { TokenService } from '../token/token.service.js';
import { denial, listDenial, type Decider } from './decider.js';

/**
 * What toolgate's HTTP API would have answered for a thrown error, as a deny
 * (the same code HttpDecider gets from the API): a malformed request keeps
 * its 400 code, a missing policy is `policy_unavailable` (503), and anything
 * else, a bug, is `toolgate_unavailable` (503) as a 500 is over HTTP.
 */
export function denialForThrown(e: unknown): DecisionResult {
  if (e instanceof BadRequestError) return denial(e.code, 400, e.message);
  if (e instanceof PolicyUnavailableError) return denial(e.code, 503, e.message);
  return denial('toolgate_unavailable', 503, `toolgate failed: ${describeThrown(e)}`);
}

/** Runs one engine call as a total function: a throw becomes `deny` of its denial. */
async function total<T>(run: () => Promise<T>, deny: (d: DecisionResult) => T): Promise<T> {
  try {
    return await run();
  } catch (e) {
    return deny(denialForThrown(e));
  }
}

const asIs = (d: DecisionResult): DecisionResult => d;

/** The caller the decision log names for the embedded engine; unauthenticated, so it may not assert claims. */
const EMBEDDED: Caller = Object.freeze({ subject: 'embedded' });

/**
 * The toolgate engine inside the MCP server's own process: the same
 * PolicyStore (build or bundle, hot reload, last-known-good), token
 * verification, revocation, decision logs and DecisionService the service
 * runs, from the same configuration, without an HTTP hop. Like HttpDecider
 * it never throws into the MCP server: errors become denies with the codes
 * the HTTP API would give.
 */
export async function createEmbeddedDecider(config: ToolgateConfig): Promise<Decider & { store: PolicyStore; revocations: RevocationService }> {
  const metrics = new MetricsService();
  const store = new PolicyStore(config);
  const revocations = new RevocationService(config, metrics);
  const tokens = new TokenService(config, metrics, revocations);
  const audit = new AuditService(config, metrics);
  const decisions = new DecisionService(config, store, tokens, metrics, audit);
  await store.onApplicationBootstrap();
  await revocations.onApplicationBootstrap();
  const limits = config.limits;
  return {
    store,
    revocations,
    decide: (req) => total(() => decisions.decide(parseDecisionRequest(req, limits), EMBEDDED), asIs),
    authenticate: (req) => total(() => decisions.authenticate(parseAuthenticateRequest(req, limits), EMBEDDED), asIs),
    filterList: (req) => total(() => decisions.filterList(parseListRequest(req, limits), EMBEDDED), listDenial),
    async close() {
      await store.onApplicationShutdown();
      await revocations.onApplicationShutdown();
      await audit.onApplicationShutdown();
    },
  };
}
