import { Module } from '@nestjs/common';
import { AdminAuthGuard } from './admin-auth.guard.js';
import { CallerAuthGuard } from './caller-auth.guard.js';
import { RevocationController } from './revocation.controller.js';
import { RevocationService } from './revocation.service.js';
import { TokenService } from './token.service.js';

@Module({
  providers: [TokenService, RevocationService, CallerAuthGuard, AdminAuthGuard],
  controllers: [RevocationController],
  exports: [TokenService, RevocationService, CallerAuthGuard, AdminAuthGuard],
})
export class TokenModule {}
