import { AuditService } from '../audit/audit.service.js';
import type { ToolgateConfig } from '../config/config.schema.js';
import { parseDecisionRequest, parseToolsRequest } from '../decision/decision-request.js';
import { DecisionService } from '../decision/decision.service.js';
import { MetricsService } from '../health/metrics.service.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { TokenService } from '../token/token.service.js';
import type { Decider } from './decider.js';

/**
 * The toolgate engine inside the MCP server's own process: the same
 * PolicyStore (build or bundle, hot reload, last-known-good), token
 * verification, revocation, decision logs and DecisionService the service
 * runs, from the same configuration, without an HTTP hop.
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
  return {
    store,
    revocations,
    decide: (req) => decisions.decide(parseDecisionRequest(req, config.limits), 'embedded'),
    filterTools: (req) => decisions.filterTools(parseToolsRequest(req, config.limits), 'embedded'),
    async close() {
      await store.onApplicationShutdown();
      await revocations.onApplicationShutdown();
      await audit.onApplicationShutdown();
    },
  };
}
