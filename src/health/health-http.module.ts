import { Module } from '@nestjs/common';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { TokenModule } from '../token/token.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [PolicyStoreModule, TokenModule], controllers: [HealthController] })
export class HealthModule {}
