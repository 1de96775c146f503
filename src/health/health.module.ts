import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { TokenModule } from '../token/token.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [PolicyStoreModule, TokenModule, AuditModule], controllers: [HealthController] })
export class HealthModule {}
