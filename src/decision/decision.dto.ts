import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsDefined, IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateBy, ValidateIf, ValidateNested, type ValidationArguments } from 'class-validator';
import { resourceUriRefusal } from '../contract/resource-uri.js';
import { DECISION_ACTIONS, LIST_KINDS, type DecisionAction, type ListKind } from './decision-request.js';

/** Refuses a present value unless `when(object)` holds (a field of another action or ref type). */
function OnlyWhen<T>(when: (o: T) => boolean, message: string): PropertyDecorator {
  return ValidateBy({
    name: 'onlyWhen',
    validator: { validate: (v: unknown, args?: ValidationArguments) => v === undefined || when(args?.object as T), defaultMessage: () => message },
  });
}

/** A resource URI toolgate decides on: its own WHATWG serialization, no controls, whitespace or `\\` (contract/resource-uri.ts). */
function DecidableUri(): PropertyDecorator {
  return ValidateBy({
    name: 'decidableUri',
    validator: { validate: (v: unknown) => typeof v !== 'string' || resourceUriRefusal(v) === undefined, defaultMessage: () => 'resource URI is refused (resource_uri_unsafe / resource_uri_not_canonical)' },
  });
}

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

/** The resource of a `read_resource` (or of a `list` with kind "resource"). */
export class ResourceRefDto {
  @ApiProperty({ example: 'docs://handbook/refunds', maxLength: 4096, description: 'Refused (400 resource_uri_unsafe / resource_uri_not_canonical) unless it equals its WHATWG `new URL(uri).href` and has no control character, whitespace or backslash; longer than limits.uri_length (default 4096): 400 uri_too_long.' })
  @IsString() @MaxLength(4096) @DecidableUri()
  uri!: string;
}

/** The prompt of a `get_prompt` (or of a `list` with kind "prompt"). */
export class PromptRefDto {
  @ApiProperty({ example: 'refund_reply', maxLength: 256 })
  @IsString() @MaxLength(256)
  name!: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { order_id: 'o-1' } })
  @IsOptional() @IsObject()
  arguments?: Record<string, unknown>;
}

/** What a completion refers to: a prompt (by name) or a resource template (by URI template). */
export class CompletionRefDto {
  @ApiProperty({ enum: ['ref/prompt', 'ref/resource'] })
  @IsIn(['ref/prompt', 'ref/resource'])
  type!: 'ref/prompt' | 'ref/resource';

  @ApiPropertyOptional({ description: 'With type "ref/prompt" (required there, refused otherwise).', maxLength: 256 })
  @ValidateIf((o: CompletionRefDto) => o.type === 'ref/prompt' || o.name !== undefined)
  @IsDefined() @IsString() @MaxLength(256) @OnlyWhen((o: CompletionRefDto) => o.type === 'ref/prompt', 'name is only for "ref/prompt"')
  name?: string;

  @ApiPropertyOptional({ description: 'With type "ref/resource" (required there, refused otherwise).', maxLength: 4096 })
  @ValidateIf((o: CompletionRefDto) => o.type === 'ref/resource' || o.uri !== undefined)
  @IsDefined() @IsString() @MaxLength(4096) @OnlyWhen((o: CompletionRefDto) => o.type === 'ref/resource', 'uri is only for "ref/resource"')
  uri?: string;
}

/** The argument being completed. */
export class CompletionArgumentDto {
  @ApiProperty({ maxLength: 256 }) @IsString() @MaxLength(256) name!: string;
  @ApiProperty({ maxLength: 4096 }) @IsString() @MaxLength(4096) value!: string;
}

/** Arguments already resolved (MCP `context`). */
export class CompletionContextDto {
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() arguments?: Record<string, unknown>;
}

/** The `completion/complete` being decided. */
export class CompletionDto {
  @ApiProperty({ type: CompletionRefDto })
  @IsDefined() @IsObject() @ValidateNested() @Type(() => CompletionRefDto)
  ref!: CompletionRefDto;

  @ApiProperty({ type: CompletionArgumentDto })
  @IsDefined() @IsObject() @ValidateNested() @Type(() => CompletionArgumentDto)
  argument!: CompletionArgumentDto;

  @ApiPropertyOptional({ type: CompletionContextDto })
  @IsOptional() @IsObject() @ValidateNested() @Type(() => CompletionContextDto)
  context?: CompletionContextDto;
}

type Subject = 'tool' | 'resource' | 'prompt' | 'completion';

const CLAIMS_DOC = {
  type: 'object',
  additionalProperties: true,
  description:
    'In place of token: the claims a trusted gateway has verified. Only from a caller authenticated with callers.auth: jwt whose token holds the scope toolgate:claims (README, "Behind a gateway"); never with token.',
} as const;

/** The `claims` field of every decision body (see DecisionRequestDto.claims). */
function ClaimsField(): PropertyDecorator {
  return (target, key) => {
    ApiPropertyOptional(CLAIMS_DOC)(target, key);
    ValidateIf((o: { claims?: unknown }) => o.claims !== undefined)(target, key);
    IsObject()(target, key);
    OnlyWhen((o: { token?: unknown }) => o.token === undefined || o.token === null, 'send either token or claims, not both')(target, key);
  };
}

/** The one subject field an action (and, for "list", a kind) carries; see decision-request.ts. */
function subjectOf(o: DecisionRequestDto): Subject | undefined {
  const action = o.action ?? 'call';
  if (action === 'list') {
    const kind = o.kind ?? 'tool';
    return kind === 'tool' || kind === 'resource' || kind === 'prompt' ? kind : undefined;
  }
  return ({ call: 'tool', read_resource: 'resource', get_prompt: 'prompt', complete: 'completion' } as Record<string, Subject>)[action];
}

/** Body of `POST /v1/decisions`. */
export class DecisionRequestDto {
  @ApiPropertyOptional({ description: 'The bearer JWT exactly as the MCP server received it (a leading "Bearer " is accepted). Absent or empty: token_missing.' })
  @IsOptional() @IsString()
  token?: string;

  @ClaimsField()
  claims?: Record<string, unknown>;

  @ApiProperty({ example: 'demo', description: 'Id of the protected MCP server (config servers[].id).' })
  @IsString() @MaxLength(256)
  server!: string;

  @ApiPropertyOptional({ enum: DECISION_ACTIONS, default: 'call', description: 'call: tools/call; list: visibility of one tool, resource or prompt (see kind); read_resource: resources/read; get_prompt: prompts/get; complete: completion/complete.' })
  @IsOptional() @IsIn([...DECISION_ACTIONS])
  action?: DecisionAction;

  @ApiPropertyOptional({ enum: LIST_KINDS, default: 'tool', description: 'Only with action "list".' })
  @ValidateIf((o: DecisionRequestDto) => o.kind !== undefined)
  @IsIn([...LIST_KINDS]) @OnlyWhen((o: DecisionRequestDto) => o.action === 'list', 'kind is only for action "list"')
  kind?: ListKind;

  @ApiPropertyOptional({ type: ToolCallDto, description: 'With action "call", and "list" with kind "tool".' })
  @ValidateIf((o: DecisionRequestDto) => o.tool !== undefined || subjectOf(o) === 'tool')
  @IsDefined() @IsObject() @ValidateNested() @Type(() => ToolCallDto) @OnlyWhen((o: DecisionRequestDto) => subjectOf(o) === 'tool', 'tool is not a field of this action')
  tool?: ToolCallDto;

  @ApiPropertyOptional({ type: ResourceRefDto, description: 'With action "read_resource", and "list" with kind "resource".' })
  @ValidateIf((o: DecisionRequestDto) => o.resource !== undefined || subjectOf(o) === 'resource')
  @IsDefined() @IsObject() @ValidateNested() @Type(() => ResourceRefDto) @OnlyWhen((o: DecisionRequestDto) => subjectOf(o) === 'resource', 'resource is not a field of this action')
  resource?: ResourceRefDto;

  @ApiPropertyOptional({ type: PromptRefDto, description: 'With action "get_prompt", and "list" with kind "prompt".' })
  @ValidateIf((o: DecisionRequestDto) => o.prompt !== undefined || subjectOf(o) === 'prompt')
  @IsDefined() @IsObject() @ValidateNested() @Type(() => PromptRefDto) @OnlyWhen((o: DecisionRequestDto) => subjectOf(o) === 'prompt', 'prompt is not a field of this action')
  prompt?: PromptRefDto;

  @ApiPropertyOptional({ type: CompletionDto, description: 'With action "complete".' })
  @ValidateIf((o: DecisionRequestDto) => o.completion !== undefined || subjectOf(o) === 'completion')
  @IsDefined() @IsObject() @ValidateNested() @Type(() => CompletionDto) @OnlyWhen((o: DecisionRequestDto) => subjectOf(o) === 'completion', 'completion is not a field of this action')
  completion?: CompletionDto;
}

/** One tool of a tools/list result. */
export class ListedToolDto {
  @ApiProperty() @IsString() @MaxLength(256) name!: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() annotations?: Record<string, unknown>;
}

/** Body of `POST /v1/decisions/tools`. */
export class ToolsRequestDto {
  @ApiPropertyOptional() @IsOptional() @IsString() token?: string;
  @ClaimsField() claims?: Record<string, unknown>;
  @ApiProperty({ example: 'demo' }) @IsString() @MaxLength(256) server!: string;
  @ApiProperty({ type: [ListedToolDto] }) @IsArray() @ValidateNested({ each: true }) @Type(() => ListedToolDto) tools!: ListedToolDto[];
}

/** One item of a tools/list, resources/list or prompts/list result (other MCP fields are accepted and ignored). */
export class ListedItemDto {
  @ApiPropertyOptional({ description: 'Tool or prompt name (kind "tool" / "prompt").', maxLength: 256 }) @IsOptional() @IsString() @MaxLength(256) name?: string;
  @ApiPropertyOptional({ description: 'Resource URI (kind "resource").', maxLength: 4096 }) @IsOptional() @IsString() @MaxLength(4096) uri?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) @IsOptional() @IsObject() annotations?: Record<string, unknown>;
}

/** Body of `POST /v1/decisions/list`: each item is evaluated with action "list" and this kind. */
export class ListRequestDto {
  @ApiPropertyOptional() @IsOptional() @IsString() token?: string;
  @ClaimsField() claims?: Record<string, unknown>;
  @ApiProperty({ example: 'demo' }) @IsString() @MaxLength(256) server!: string;
  @ApiProperty({ enum: LIST_KINDS }) @IsIn([...LIST_KINDS]) kind!: ListKind;
  @ApiProperty({ type: [ListedItemDto] }) @IsArray() @ValidateNested({ each: true }) @Type(() => ListedItemDto) items!: ListedItemDto[];
}

/** Body of `POST /v1/decisions/authenticate`: only the token is checked (no policy action). */
export class AuthenticateRequestDto {
  @ApiPropertyOptional() @IsOptional() @IsString() token?: string;
  @ClaimsField() claims?: Record<string, unknown>;
  @ApiProperty({ example: 'demo' }) @IsString() @MaxLength(256) server!: string;
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

/** Answer of `POST /v1/decisions/tools` and `POST /v1/decisions/list` (`allowed`: names, or URIs for resources). */
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
