import { Controller, Get, Header, Res, UseGuards } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AuditService } from '../audit/audit.service.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { ShadowService } from '../shadow/shadow.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { CallerAuthGuard } from '../token/caller-auth.guard.js';
import { MetricsService } from '../telemetry/metrics.service.js';
import { workerLink } from '../cluster/worker-link.js';

const STARTED = new Date();

/** Liveness, readiness, Prometheus metrics and the policy status. */
@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly store: PolicyStore,
    private readonly metrics: MetricsService,
    private readonly audit: AuditService,
    private readonly revocations: RevocationService,
    private readonly shadow: ShadowService,
  ) {}

  @Get('healthz')
  @ApiOkResponse({ description: 'The process is alive.' })
  healthz() {
    return { status: 'ok' };
  }

  /** Ready only with a policy loaded: without one every decision would be refused. */
  @Get('readyz')
  readyz(@Res() reply: FastifyReply): void {
    const active = this.store.current();
    if (!active) {
      void reply.status(503).send({ code: 'policy_unavailable', message: 'no policy is loaded' });
      return;
    }
    const waiting = workerLink()?.notReady();
    if (waiting) {
      void reply.status(503).send({ code: 'workers_not_ready', message: waiting });
      return;
    }
    void reply.send({ status: 'ready', revision: active.revision });
  }

  /** With `callers.auth: jwt` a scrape needs a caller token like any other caller: metrics name issuers, codes and revisions. */
  @Get('metrics')
  @UseGuards(CallerAuthGuard)
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async prometheus(): Promise<string> {
    // In a cluster worker the primary aggregates every worker's registry (prom-client's AggregatorRegistry).
    return workerLink()?.clusterMetrics() ?? this.metrics.registry.metrics();
  }

  @Get('v1/status')
  @UseGuards(CallerAuthGuard)
  @ApiOkResponse({ description: 'Active revision, when and from where it loaded, the last failed activation, recent revisions.' })
  status() {
    return {
      started_at: STARTED.toISOString(),
      ...this.store.status(),
      decision_logs: this.audit.stats(),
      revocations: this.revocations.status(),
      shadow: this.shadow.status(),
      cluster: workerLink()?.status(),
    };
  }
}
