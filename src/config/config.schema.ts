import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsWorkers } from '../cluster/workers-config.js';

const URL_OPTS = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

/** Asymmetric algorithms accepted by default; HMAC only with an explicit secret. */
export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

export class ListenConfig {
  @IsString() host: string = '127.0.0.1';
  @IsInt() @Min(0) @Max(65535) port: number = 8181;
}

/**
 * The HTTP edge (src/common/http-edge.ts): timeouts, connection caps, and the Host and Origin
 * values toolgate answers besides its listen address and loopback names.
 */
export class HttpConfig {
  /** A request's headers must arrive within this, from its first byte (node:http headersTimeout). */
  @IsInt() @Min(100) @Max(600_000) headers_timeout_ms: number = 10_000;
  /** Its body must arrive within this more (node:http requestTimeout = headers + body); then 408 and the connection is closed. */
  @IsInt() @Min(100) @Max(3_600_000) body_timeout_ms: number = 30_000;
  /** A keep-alive connection with no request for this long is closed. */
  @IsInt() @Min(100) @Max(600_000) idle_timeout_ms: number = 5_000;
  /** Open connections per process; never above the soft file-descriptor limit less max(64, 10%) (the default). */
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000) max_connections?: number;
  /** Open connections per source address per process; more are closed at once. */
  @IsInt() @Min(1) @Max(10_000_000) max_connections_per_source: number = 256;
  /** More Host values that name toolgate (a proxy's public name): `name` (default port) or `name:port`. */
  @IsArray() @IsString({ each: true }) allowed_hosts: string[] = [];
  /** More origins whose pages may call toolgate, exactly as browsers send them (`https://ops.example`). */
  @IsArray() @IsString({ each: true }) allowed_origins: string[] = [];
}

export class SourcePolicyConfig {
  @IsString() policies: string = 'policies';
  @IsString() tests: string = 'rego-tests';
  @IsString() out: string = 'build';
  /** Failing Rego tests block activation. */
  @IsBoolean() test_gate: boolean = true;
  /** Rebuild and activate when files under policies/ or tests/ change. */
  @IsBoolean() watch: boolean = true;
  /** Quiet time after the last file event before a rebuild starts. */
  @IsInt() @Min(0) @Max(10_000) debounce_ms: number = 100;
}

/** A public key that may sign bundles (OPA's `keys` config). */
export class BundleKeyConfig {
  @IsString() keyid!: string;
  @IsIn(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])
  algorithm: string = 'RS256';
  /** PEM public key, inline... */
  @IsOptional() @IsString() key?: string;
  /** ...or in a file. */
  @IsOptional() @IsString() key_file?: string;
}

/** Signature verification for bundles; when present, unsigned bundles are refused. */
export class BundleSigningConfig {
  @IsArray() @ArrayNotEmpty() @ValidateNested({ each: true }) @Type(() => BundleKeyConfig) keys!: BundleKeyConfig[];
  /** Required `scope` claim; absent means the bundle must carry none. */
  @IsOptional() @IsString() scope?: string;
}

export class BundlePolicyConfig {
  /** A bundle file, watched for changes... */
  @IsOptional() @IsString() path?: string;
  /** ...or a URL polled with If-None-Match. */
  @IsOptional() @IsUrl(URL_OPTS) url?: string;
  @IsInt() @Min(1) @Max(86_400) poll_interval_s: number = 10;
  @IsInt() @Min(100) @Max(120_000) timeout_ms: number = 10_000;
  @IsInt() @Min(1024) @Max(512 * 1024 * 1024) max_bytes: number = 64 * 1024 * 1024;
  @IsOptional() @ValidateNested() @Type(() => BundleSigningConfig) signing?: BundleSigningConfig;
  /**
   * Lets a `url` source activate bundles without `signing`. Off by default: an
   * unsigned bundle from the network lets whoever answers that URL write policy.
   * Logged as a warning at startup and on every activation, and listed in /v1/status.
   */
  @IsBoolean() allow_unsigned: boolean = false;
}

/**
 * A candidate policy evaluated next to the active one on sampled live traffic
 * (README, "Changing policy safely"). Built, tested and verified exactly as the
 * active source would be; it never changes an answer.
 */
export class ShadowPolicyConfig {
  @IsIn(['source', 'bundle']) mode: 'source' | 'bundle' = 'bundle';
  /** For mode source: the candidate's policy and test directories (built with the same gates). */
  @IsOptional() @ValidateNested() @Type(() => SourcePolicyConfig) source?: SourcePolicyConfig;
  /** For mode bundle: a file or URL; without its own `signing`, policy.bundle.signing applies. */
  @IsOptional() @ValidateNested() @Type(() => BundlePolicyConfig) bundle?: BundlePolicyConfig;
  /** Share of decisions the candidate also evaluates, 0..1. */
  @IsNumber() @Min(0) @Max(1) sample_rate: number = 1;
  /** Divergences /v1/status lists, newest first. */
  @IsInt() @Min(0) @Max(1000) last_divergences: number = 20;
}

export class PolicyConfig {
  @IsIn(['source', 'bundle']) mode: 'source' | 'bundle' = 'source';
  @ValidateNested() @Type(() => SourcePolicyConfig) source: SourcePolicyConfig = new SourcePolicyConfig();
  @IsOptional() @ValidateNested() @Type(() => BundlePolicyConfig) bundle?: BundlePolicyConfig;
  /** How many activated revisions /v1/status lists. */
  @IsInt() @Min(1) @Max(1000) history: number = 20;
  /** Upper bound on one policy's wasm memory, in 64 KiB pages; growth past it aborts evaluation (deny). */
  @IsInt() @Min(1) max_memory_pages: number = 4096;
  /** A candidate evaluated in shadow (never answers). */
  @IsOptional() @ValidateNested() @Type(() => ShadowPolicyConfig) shadow?: ShadowPolicyConfig;
}

export class LimitsConfig {
  @IsInt() @Min(1024) @Max(64 * 1024 * 1024) body_bytes: number = 1024 * 1024;
  @IsInt() @Min(256) @Max(1024 * 1024) token_bytes: number = 16 * 1024;
  @IsInt() @Min(1) @Max(256) arguments_depth: number = 32;
  @IsInt() @Min(1) @Max(1_000_000) arguments_nodes: number = 10_000;
  /**
   * Object keys (argument names, at every depth, counted together) one `arguments` object (of
   * a tool call, prompt, completion context, or the asserted `claims`) may hold: 400
   * `arguments_too_many_keys`. Bounds the cost of building the policy input, evaluating and
   * masking the log entry (README, Configuration).
   */
  @IsInt() @Min(1) @Max(1_000_000) arguments_keys: number = 1000;
  /** Items one list filter (`/v1/decisions/list`, `/v1/decisions/tools`) may carry: 400 `list_too_long`. */
  @IsInt() @Min(1) @Max(100_000) tools_per_list: number = 1000;
  /** Characters a resource URI may have: 400 `uri_too_long` (a listed item that is longer is hidden). */
  @IsInt() @Min(64) @Max(1024 * 1024) uri_length: number = 4096;
  /**
   * Watchdog (src/cluster): a worker whose event loop is blocked longer than this is killed and
   * replaced. Absent: off with `workers: 1`, 2000 ms with more workers. Setting it with
   * `workers: 1` runs one supervised worker. Embedded mode cannot be protected this way (README).
   */
  @IsOptional() @IsInt() @Min(100) @Max(600_000) evaluation_ms?: number;
}

export class IssuerConfig {
  @IsUrl(URL_OPTS) issuer!: string;
  @IsOptional() @IsUrl(URL_OPTS) jwks_uri?: string;
  /** A local JWKS file instead of jwks_uri (air-gapped installs, the demo). */
  @IsOptional() @IsString() jwks_file?: string;
  /** Find jwks_uri through RFC 8414 / OpenID discovery. */
  @IsBoolean() discovery: boolean = false;
  @IsArray() @ArrayNotEmpty() @IsIn([...DEFAULT_ALGORITHMS, ...HMAC_ALGORITHMS], { each: true })
  algorithms: string[] = [...DEFAULT_ALGORITHMS];
  /** Shared secret for HS* algorithms; HMAC is refused without it. */
  @IsOptional() @IsString() secret?: string;
  @IsInt() @Min(0) @Max(300) clock_tolerance_s: number = 30;
  /** Required JWT `typ` header, e.g. `at+jwt` (RFC 9068). */
  @IsOptional() @IsString() typ?: string;
  /** Minimum seconds between JWKS refetches triggered by an unknown `kid`. */
  @IsInt() @Min(0) jwks_cooldown_s: number = 30;
  /** JWKS is refetched when older than this. */
  @IsInt() @Min(1) jwks_max_age_s: number = 600;
  @IsInt() @Min(100) @Max(60_000) jwks_timeout_ms: number = 5000;
  /** JWKS and discovery answers larger than this are cut off while streaming. */
  @IsInt() @Min(1024) @Max(16 * 1024 * 1024) jwks_max_bytes: number = 1024 * 1024;
  /** After failed fetches, wait jwks_cooldown_s (at least 1 s), doubling per failure, at most this long before trying again. */
  @IsInt() @Min(1) @Max(86_400) jwks_backoff_max_s: number = 300;
}

/**
 * Server ids starting with this are toolgate's own audiences (callers, admin);
 * the verified-token cache is keyed by server id, so a configured server may not share one.
 */
export const RESERVED_SERVER_ID_PREFIX = '__toolgate';

export class ServerConfig {
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'id must be 1-64 characters of A-Z a-z 0-9 . _ -' })
  id!: string;
  /** Canonical URI of the MCP server (RFC 8707); tokens must carry it in `aud`. */
  @IsUrl(URL_OPTS) resource!: string;
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) issuers!: string[];
  @IsArray() @IsString({ each: true }) scopes_supported: string[] = [];
  @IsOptional() @IsString() resource_name?: string;
  /** Where clients find the RFC 9728 metadata; default derived from `resource`. */
  @IsOptional() @IsUrl(URL_OPTS) resource_metadata_url?: string;
}

export class CallersConfig {
  /** `none`: any caller that can reach the port (loopback only); `jwt`: a bearer JWT for toolgate itself. */
  @IsIn(['none', 'jwt']) auth: 'none' | 'jwt' = 'none';
  @IsOptional() @IsString() issuer?: string;
  @IsOptional() @IsString() audience?: string;
  @IsOptional() @IsString() scope?: string;
}

export class TokenCacheConfig {
  @IsInt() @Min(0) @Max(10_000_000) max_entries: number = 10_000;
}

/** TLS to PostgreSQL. Without this section the connection is plain TCP (or a unix socket). */
export class PostgresTlsConfig {
  /** PEM CA bundle that must have signed the server's certificate (default: the system CAs). */
  @IsOptional() @IsString() ca_file?: string;
  /** Client certificate and key for certificate authentication. */
  @IsOptional() @IsString() cert_file?: string;
  @IsOptional() @IsString() key_file?: string;
  /** Verify the server's certificate and name; false only for a test server. */
  @IsBoolean() reject_unauthorized: boolean = true;
}

/** A PostgreSQL connection (node-postgres pool). */
export class PostgresConnectionConfig {
  /** `postgres://user:password@host:port/database`; PG* environment variables fill what it leaves out. */
  @IsString() url!: string;
  /** Connections in this process's pool. */
  @IsInt() @Min(1) @Max(1000) pool_max: number = 4;
  @IsInt() @Min(100) @Max(120_000) connect_timeout_ms: number = 5000;
  /** Statements running longer are cancelled by the server. */
  @IsInt() @Min(100) @Max(600_000) statement_timeout_ms: number = 10_000;
  /** Apply pending schema migrations at start (under an advisory lock); false: only `toolgate migrate` does. */
  @IsBoolean() migrate: boolean = true;
  @IsOptional() @ValidateNested() @Type(() => PostgresTlsConfig) tls?: PostgresTlsConfig;
}

export class FileSinkConfig {
  @IsString() path!: string;
  /** Rotate when the file would grow past this. */
  @IsInt() @Min(1024) max_bytes: number = 50 * 1024 * 1024;
  /** Rotated files kept (path.1 … path.N). */
  @IsInt() @Min(1) @Max(100) max_files: number = 5;
}

export class HttpSinkConfig {
  /** OPA decision-log upload endpoint: gzip JSON array POSTs. */
  @IsUrl(URL_OPTS) url!: string;
  @IsInt() @Min(1) @Max(100_000) batch_max_events: number = 500;
  @IsInt() @Min(10) @Max(600_000) flush_interval_ms: number = 1000;
  /** Events held while the collector is slow or down; beyond this, new events are dropped and counted. */
  @IsInt() @Min(1) @Max(10_000_000) buffer_max_events: number = 10_000;
  @IsInt() @Min(100) @Max(120_000) timeout_ms: number = 5000;
  @IsInt() @Min(100) @Max(3_600_000) max_backoff_ms: number = 30_000;
  /** Optional bearer token for the collector (never a user's token). */
  @IsOptional() @IsString() bearer_token?: string;
}

/** Decision logs in a PostgreSQL table partitioned by day. */
export class PostgresSinkConfig extends PostgresConnectionConfig {
  @IsInt() @Min(1) @Max(10_000) batch_max_events: number = 500;
  @IsInt() @Min(10) @Max(600_000) flush_interval_ms: number = 1000;
  /** Events held while PostgreSQL is slow or down; beyond this, new events are dropped and counted. */
  @IsInt() @Min(1) @Max(10_000_000) buffer_max_events: number = 20_000;
  @IsInt() @Min(100) @Max(3_600_000) max_backoff_ms: number = 30_000;
  /** Daily partitions older than this are dropped. */
  @IsInt() @Min(1) @Max(3650) retention_days: number = 30;
}

/**
 * The stream of events whose token never verified (malformed, bad signature,
 * unknown issuer, expired...): anyone can send those, so they are kept apart
 * from the audit trail, capped per event and per second, and what is dropped
 * is counted (`toolgate_decision_log_events{sink="unverified",state="dropped"}`).
 */
export class UnverifiedLogConfig {
  /** Their own file; by default `<decision_logs.file.path>.unverified` (10 MiB, 2 rotations) when the file sink is on. */
  @IsOptional() @ValidateNested() @Type(() => FileSinkConfig) file?: FileSinkConfig;
  /** An event longer than this once serialized keeps no input or result (arguments are never kept). */
  @IsInt() @Min(512) @Max(1024 * 1024) max_event_bytes: number = 4096;
  /** Events per second kept on average; the rest are dropped and counted. */
  @IsInt() @Min(0) @Max(1_000_000) max_per_second: number = 20;
  /** Events kept at once after a quiet spell. */
  @IsInt() @Min(1) @Max(1_000_000) burst: number = 100;
}

export class DecisionLogConfig {
  @IsBoolean() stdout: boolean = false;
  @ValidateNested() @Type(() => UnverifiedLogConfig) unverified: UnverifiedLogConfig = new UnverifiedLogConfig();
  @IsOptional() @ValidateNested() @Type(() => FileSinkConfig) file?: FileSinkConfig;
  @IsOptional() @ValidateNested() @Type(() => HttpSinkConfig) http?: HttpSinkConfig;
  @IsOptional() @ValidateNested() @Type(() => PostgresSinkConfig) postgres?: PostgresSinkConfig;
  /** Events buffered for the file sink before new ones are dropped and counted. */
  @IsInt() @Min(1) @Max(10_000_000) buffer_max_events: number = 10_000;
}

/** Revocations shared by every replica through PostgreSQL, pushed by LISTEN/NOTIFY. */
export class RevocationPostgresConfig extends PostgresConnectionConfig {
  /** Full reload interval, the safety net for notifications lost while disconnected. */
  @IsInt() @Min(1) @Max(3600) resync_interval_s: number = 30;
}

export class RevocationConfig {
  /** Revocations are kept here (JSON, written atomically, reloaded when edited) unless `postgres` is set. */
  @IsString() file: string = '.toolgate/revocations.json';
  /** Keep revocations in PostgreSQL instead of the file. */
  @IsOptional() @ValidateNested() @Type(() => RevocationPostgresConfig) postgres?: RevocationPostgresConfig;
  /** Past this many seconds without a successful refresh, the rules in force are stale. */
  @IsInt() @Min(1) @Max(86_400 * 30) max_staleness_s: number = 300;
  /** Stale rules: `deny` every decision (`revocation_stale`, 503) or `serve` with the last rules known. */
  @IsIn(['deny', 'serve']) on_stale: 'deny' | 'serve' = 'deny';
  /** File mode: the file is re-read this often even without a change event, so staleness means the same in both modes. */
  @IsInt() @Min(1) @Max(3600) file_resync_interval_s: number = 30;
}

/**
 * Who may use the admin API: a bearer JWT from this issuer and audience. `scope` may change
 * revocations (and read everything); `read_scope` may only read (decisions, revisions,
 * reports, revocations, status).
 */
export class AdminConfig {
  @IsString() issuer!: string;
  @IsString() audience!: string;
  @IsString() scope: string = 'toolgate:admin';
  @IsString() read_scope: string = 'toolgate:read';
}

/** The authorization server the console signs in with (authorization code + PKCE, public client, in the browser). */
export class ConsoleOAuthConfig {
  @IsUrl(URL_OPTS) issuer!: string;
  @IsString() @Matches(/^\S{1,256}$/, { message: 'client_id must be 1-256 characters without spaces' }) client_id!: string;
  /** Scopes the console requests, e.g. `[openid, toolgate:read, toolgate:admin]`. */
  @IsArray() @IsString({ each: true }) scopes: string[] = ['toolgate:read', 'toolgate:admin'];
}

/** The operator console served at /console (README, "Console"); needs an `admin` section. */
export class ConsoleConfig {
  @IsBoolean() enabled: boolean = false;
  /** Sign-in through an authorization server; absent: the operator pastes a token. */
  @IsOptional() @ValidateNested() @Type(() => ConsoleOAuthConfig) oauth?: ConsoleOAuthConfig;
  /** Where `toolgate replay` / `toolgate privileges` JSON reports are listed from. */
  @IsString() reports_dir: string = 'build/reports';
}

/** The whole configuration file. Unknown keys are rejected. */
export class ToolgateConfig {
  @ValidateNested() @Type(() => ListenConfig) listen: ListenConfig = new ListenConfig();
  @ValidateNested() @Type(() => HttpConfig) http: HttpConfig = new HttpConfig();
  @ValidateNested() @Type(() => PolicyConfig) policy: PolicyConfig = new PolicyConfig();
  @ValidateNested() @Type(() => LimitsConfig) limits: LimitsConfig = new LimitsConfig();
  @ValidateNested() @Type(() => TokenCacheConfig) token_cache: TokenCacheConfig = new TokenCacheConfig();
  @IsArray() @ValidateNested({ each: true }) @Type(() => IssuerConfig) issuers: IssuerConfig[] = [];
  @IsArray() @ArrayNotEmpty() @ValidateNested({ each: true }) @Type(() => ServerConfig) servers!: ServerConfig[];
  @ValidateNested() @Type(() => CallersConfig) callers: CallersConfig = new CallersConfig();
  @ValidateNested() @Type(() => DecisionLogConfig) decision_logs: DecisionLogConfig = new DecisionLogConfig();
  @ValidateNested() @Type(() => RevocationConfig) revocation: RevocationConfig = new RevocationConfig();
  @IsOptional() @ValidateNested() @Type(() => AdminConfig) admin?: AdminConfig;
  @ValidateNested() @Type(() => ConsoleConfig) console: ConsoleConfig = new ConsoleConfig();
  /** Labels for logs and metrics. */
  @IsString() instance_id: string = 'toolgate';
  /** Worker processes sharing the port (src/cluster): a count or `auto` (one per core). 1: one process, no primary. */
  @IsWorkers() workers: number | 'auto' = 1;
}
