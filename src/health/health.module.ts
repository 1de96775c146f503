import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { ShadowModule } from '../shadow/shadow.module.js';
import { TokenModule } from '../token/token.module.js';
import { HealthController } from './health.controller.js';

/** Liveness, readiness, status and the /metrics endpoint; it reads the features, and nothing imports it. */
@Module({ imports: [PolicyStoreModule, TokenModule, AuditModule, ShadowModule], controllers: [HealthController] })
export class HealthModule {}
