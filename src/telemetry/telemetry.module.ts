import { Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service.js';

/**
 * Metrics registry and instruments, below every feature: token, audit,
 * policy-store and decision record into it, and health only serves it.
 * Global, so every feature records into the same registry.
 */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class TelemetryModule {}
