import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { ShadowModule } from '../shadow/shadow.module.js';
import { TokenModule } from '../token/token.module.js';
import { DecisionRoutes } from './decision.routes.js';
import { DecisionService } from './decision.service.js';
import { ResourceMetadataController } from './resource-metadata.controller.js';

/** The decision API: the hot routes (DecisionRoutes, plain Fastify) and the RFC 9728 metadata. */
@Module({
  imports: [PolicyStoreModule, TokenModule, AuditModule, ShadowModule],
  controllers: [ResourceMetadataController],
  providers: [DecisionService, DecisionRoutes],
})
export class DecisionModule {}
