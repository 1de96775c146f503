import { Module } from '@nestjs/common';
import { ShadowService } from './shadow.service.js';

/** The candidate policy evaluated in shadow (policy.shadow); one instance shared by the decision route and /v1/status. */
@Module({ providers: [ShadowService], exports: [ShadowService] })
export class ShadowModule {}
