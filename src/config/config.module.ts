import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ToolgateConfig } from './config.schema.js';

/** Provides the validated ToolgateConfig to every module. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: ToolgateConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: ToolgateConfig, useValue: config }], exports: [ToolgateConfig] };
  }
}
