import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { ShadowModule } from '../shadow/shadow.module.js';
import { TokenModule } from '../token/token.module.js';
import { DecisionController } from './decision.controller.js';
import { DecisionService } from './decision.service.js';
import { ResourceMetadataController } from './resource-metadata.controller.js';

@Module({
  imports: [PolicyStoreModule, TokenModule, AuditModule, ShadowModule],
  controllers: [DecisionController, ResourceMetadataController],
  providers: [DecisionService],
})
export class DecisionModule {}
