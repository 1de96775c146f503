import { Module, type OnModuleInit } from '@nestjs/common';
import { MetricsService } from '../telemetry/metrics.service.js';
import { PolicyStore } from './policy-store.service.js';

@Module({ providers: [PolicyStore], exports: [PolicyStore] })
export class PolicyStoreModule implements OnModuleInit {
  constructor(
    private readonly store: PolicyStore,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.store.onActivation((result, active) => {
      this.metrics.policyReloads.inc({ result });
      if (active) this.metrics.setRevision(active.revision);
    });
  }
}
