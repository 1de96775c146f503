import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, MaxLength, Min, validateSync } from 'class-validator';
import { BadRequestError } from '../common/errors.js';
import { AdminAuthGuard, AdminWrite } from './admin-auth.guard.js';
import { RevocationService, type Revocation } from './revocation.service.js';

/** Body of `POST /v1/revocations`. */
export class CreateRevocationDto {
  @ApiProperty({ enum: ['jti', 'sub', 'client_id'] })
  @IsIn(['jti', 'sub', 'client_id'])
  kind!: 'jti' | 'sub' | 'client_id';

  @ApiProperty({ description: 'The jti, subject or client id to revoke.' })
  @IsString() @IsNotEmpty() @MaxLength(1024)
  value!: string;

  @ApiPropertyOptional({ description: 'Epoch seconds: revoke only tokens issued (iat) before this. Absent: every token.' })
  @IsOptional() @IsInt() @Min(0)
  issued_before?: number;

  @ApiPropertyOptional({ description: 'Limit the rule to tokens of this issuer.' })
  @IsOptional() @IsString() @MaxLength(2048)
  issuer?: string;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(1024)
  reason?: string;
}

/**
 * Admin API for server-side revocation; effective on the next decision after it answers.
 * Listing needs `admin.read_scope` (or `admin.scope`); adding and deleting need `admin.scope`.
 */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/revocations')
@UseGuards(AdminAuthGuard)
export class RevocationController {
  constructor(private readonly revocations: RevocationService) {}

  @Post()
  @AdminWrite()
  @HttpCode(201)
  async create(@Body() body: unknown): Promise<Revocation> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('invalid_request', 'the body must be a JSON object');
    const dto = plainToInstance(CreateRevocationDto, body);
    const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length > 0) {
      const msg = errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ');
      throw new BadRequestError('invalid_request', msg);
    }
    return this.revocations.add({ kind: dto.kind, value: dto.value, issued_before: dto.issued_before, issuer: dto.issuer, reason: dto.reason });
  }

  @Get()
  list(): { revocations: Revocation[] } {
    return { revocations: this.revocations.list() };
  }

  @Delete(':id')
  @AdminWrite()
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    if (!(await this.revocations.remove(id))) throw new NotFoundException(`no revocation ${id}`);
  }
}
