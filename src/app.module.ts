import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule } from './config/config.module.js';
import type { ToolgateConfig } from './config/config.schema.js';
import { ConsoleApiModule } from './console-api/console-api.module.js';
import { DecisionModule } from './decision/decision.module.js';
import { HealthModule } from './health/health.module.js';
import { TelemetryModule } from './telemetry/telemetry.module.js';

/** Root module; built from an already validated config. */
@Module({})
export class AppModule {
  static forConfig(config: ToolgateConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), TelemetryModule, DecisionModule, HealthModule, ConsoleApiModule],
    };
  }
}
