import { Module } from '@nestjs/common';
import { PolicyStoreModule } from '../policy-store/policy-store.module.js';
import { ShadowModule } from '../shadow/shadow.module.js';
import { TokenModule } from '../token/token.module.js';
import { AdminReadController } from './admin-read.controller.js';
import { ConsoleApiService } from './console-api.service.js';
import { ConsoleConfigController } from './console-config.controller.js';
import { ConsoleStatic } from './console-static.js';
import { RevisionArchive } from './revision-archive.js';

/** The operator console: the admin read API, the console's sign-in config and its static files (README, "Console"). */
@Module({
  imports: [PolicyStoreModule, TokenModule, ShadowModule],
  controllers: [AdminReadController, ConsoleConfigController],
  providers: [ConsoleApiService, RevisionArchive, ConsoleStatic],
})
export class ConsoleApiModule {}
