import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsDefined, IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';

/** The tool call being decided. */
export class ToolCallDto {
  @ApiProperty({ example: 'refunds.create', maxLength: 256 })
  @IsString() @MaxLength(256)
  name!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { order_id: 'o-1', amount: 50, currency: 'USD' } })
  @IsOptional() @IsObject()
  arguments?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'MCP tool annotations (hints; never trusted for security).' })
  @IsOptional() @IsObject()
  annotations?: Record<string, unknown>;
}

/** Body of `POST /v1/decisions`. */
export class DecisionRequestDto {
  @ApiPropertyOptional({ description: 'The bearer JWT exactly as the MCP server received it (a leading "Bearer " is accepted). Absent or empty: token_missing.' })
  @IsOptional() @IsString()
  token?: string;

  @ApiProperty({ example: 'demo', description: 'Id of the protected MCP server (config servers[].id).' })
  @IsString() @MaxLength(256)
  server!: string;

  @ApiPropertyOptional({ enum: ['call', 'list'], default: 'call' })
  @IsOptional() @IsIn(['call', 'list'])
  action?: 'call' | 'list';

  @ApiProperty({ type: ToolCallDto })
  @IsDefined() @IsObject() @ValidateNested() @Type(() => ToolCallDto)
  tool!: ToolCallDto;
}

/** One tool of a tools/list result. */
export class ListedToolDto {
  @ApiProperty() @IsString() @MaxLength(256) name!: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() annotations?: Record<string, unknown>;
}

/** Body of `POST /v1/decisions/tools`. */
export class ToolsRequestDto {
  @ApiPropertyOptional() @IsOptional() @IsString() token?: string;
  @ApiProperty({ example: 'demo' }) @IsString() @MaxLength(256) server!: string;
  @ApiProperty({ type: [ListedToolDto] }) @IsArray() @ValidateNested({ each: true }) @Type(() => ListedToolDto) tools!: ListedToolDto[];
}

/** Answer of `POST /v1/decisions` (always HTTP 200: a deny is a result). */
export class DecisionResponseDto {
  @ApiProperty({ format: 'uuid' }) decision_id!: string;
  @ApiProperty() allow!: boolean;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiProperty({ description: 'Policy revision that made the decision.', nullable: true, type: String }) revision!: string | null;
  @ApiPropertyOptional({ description: 'Stable reason code when allow is false (see README).' }) code?: string;
  @ApiPropertyOptional({ description: 'HTTP status the MCP server should answer with.', enum: [401, 403, 500, 503] }) http_status?: number;
  @ApiPropertyOptional({ description: 'WWW-Authenticate header value the MCP server should send.' }) www_authenticate?: string;
}

/** Answer of `POST /v1/decisions/tools`. */
export class ToolsResponseDto {
  @ApiProperty({ format: 'uuid' }) decision_id!: string;
  @ApiProperty({ type: [String] }) allowed!: string[];
  @ApiProperty({ nullable: true, type: String }) revision!: string | null;
  @ApiPropertyOptional() code?: string;
  @ApiPropertyOptional() http_status?: number;
  @ApiPropertyOptional() www_authenticate?: string;
  @ApiPropertyOptional({ type: [String] }) reasons?: string[];
}

/** Error body for 4xx/5xx answers. */
export class ErrorResponseDto {
  @ApiProperty({ example: 'invalid_request' }) code!: string;
  @ApiProperty() message!: string;
}
