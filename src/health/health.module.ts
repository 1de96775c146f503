import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';

/** Metrics are global: every feature records into the same registry. */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}
