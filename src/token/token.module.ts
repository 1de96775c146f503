import { Module } from '@nestjs/common';
import { CallerAuthGuard } from './caller-auth.guard.js';
import { TokenService } from './token.service.js';

@Module({ providers: [TokenService, CallerAuthGuard], exports: [TokenService, CallerAuthGuard] })
export class TokenModule {}
