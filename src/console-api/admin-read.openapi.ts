import type { SchemaObject } from '@nestjs/swagger';

/** OpenAPI schemas of the admin read API's answers (the handlers return plain objects of these shapes). */

const str: SchemaObject = { type: 'string' };
const nstr: SchemaObject = { type: 'string', nullable: true };
const num: SchemaObject = { type: 'number' };
const source: SchemaObject = { type: 'object', properties: { kind: { type: 'string', enum: ['source', 'bundle'] }, location: str } };

export const WHOAMI: SchemaObject = {
  type: 'object',
  required: ['sub', 'scopes', 'can_admin'],
  properties: { sub: str, client_id: str, scopes: { type: 'array', items: str }, can_admin: { type: 'boolean', description: 'the token carries admin.scope' } },
};

const ROW: SchemaObject = {
  type: 'object',
  properties: {
    decision_id: str,
    at: { type: 'string', format: 'date-time' },
    kind: { type: 'string', enum: ['decision', 'tools', 'list', 'authenticate'] },
    server: nstr,
    tool: nstr,
    action: nstr,
    result: { type: 'string', enum: ['allow', 'deny'] },
    code: nstr,
    subject: { type: 'string', nullable: true, description: 'subject fingerprint: first 24 hex of SHA-256(issuer \\n sub)' },
    token_fingerprint: nstr,
    client_id: nstr,
    revision: nstr,
    content_hash: nstr,
    duration_ms: { type: 'number', nullable: true },
    shadow: { type: 'string', nullable: true, enum: ['same', 'allow_to_deny', 'deny_to_allow', 'error', null] },
  },
};

export const DECISIONS: SchemaObject = {
  type: 'object',
  required: ['source', 'decisions', 'scanned', 'truncated'],
  properties: {
    source: { type: 'string', enum: ['file', 'postgres'] },
    decisions: { type: 'array', items: ROW },
    next_before: { type: 'string', description: 'pass as `before` for the next, older page' },
    scanned: num,
    truncated: { type: 'boolean', description: 'older events exist that were not searched (file source)' },
  },
};

export const DECISION: SchemaObject = {
  type: 'object',
  properties: {
    event: { type: 'object', description: 'the recorded decision-log event, masked as logged (README, "Decision logs")' },
    shadow: {
      type: 'object',
      nullable: true,
      properties: { revision: str, content_hash: str, allow: { type: 'boolean' }, code: str, result: { type: 'string', enum: ['same', 'allow_to_deny', 'deny_to_allow', 'error'] } },
    },
  },
};

export const OVERVIEW: SchemaObject = {
  type: 'object',
  properties: {
    revision: { type: 'object', nullable: true, properties: { label: str, content_hash: str, loaded_at: str, source } },
    last_failure: { type: 'object', nullable: true, description: 'as /v1/status last_failure (step, code, message, problems with file and line)' },
    warnings: { type: 'array', items: str },
    rates: {
      type: 'object',
      properties: {
        source: { type: 'string', nullable: true, enum: ['file', 'postgres', null] },
        bucket_s: num,
        window_s: num,
        buckets: {
          type: 'array',
          items: { type: 'object', properties: { t: { type: 'number', description: 'bucket start, epoch seconds' }, allow: num, deny: { type: 'object', additionalProperties: num } } },
        },
      },
    },
    token_cache: { type: 'object', properties: { entries: num, max_entries: num, hits: num, misses: num } },
    jwks: {
      type: 'array',
      items: { type: 'object', properties: { issuer: str, ok: { type: 'boolean' }, last_fetch_at: nstr, keys: num, failures: num, last_error: nstr } },
    },
    shadow: { type: 'object', nullable: true, description: 'as /v1/status shadow' },
  },
};

const REVISION: SchemaObject = { type: 'object', properties: { revision: str, content_hash: str, loaded_at: str, source, has_sources: { type: 'boolean' } } };

export const REVISIONS: SchemaObject = { type: 'object', properties: { active: nstr, revisions: { type: 'array', items: REVISION } } };

export const SOURCES: SchemaObject = {
  type: 'object',
  properties: { revision: str, content_hash: str, files: { type: 'array', items: { type: 'object', properties: { path: str, content: str } } } },
};

const REF: SchemaObject = { type: 'object', properties: { revision: str, content_hash: str } };

export const DIFF: SchemaObject = {
  type: 'object',
  properties: {
    from: REF,
    to: REF,
    files: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          path: str,
          status: { type: 'string', enum: ['added', 'removed', 'changed'] },
          patch: { type: 'string', nullable: true, description: 'unified diff; null when too_large_to_diff' },
          too_large_to_diff: {
            type: 'boolean',
            description: 'present (true) when the files differ on more than 5000 lines, the diff took over 250 ms, or the request’s 1 s / 4 MiB diff budget was spent: only the status is given',
          },
        },
      },
    },
  },
};

/** The 503 a file-source read answers when every scan slot is taken (`admin_busy`, with Retry-After). */
export const BUSY = {
  status: 503,
  description:
    '`admin_busy`: at most two decision-log scans run at once per process; retry after the Retry-After seconds. Also `decision_store_unavailable` / `decision_log_unavailable`.',
  headers: { 'Retry-After': { description: 'seconds (admin_busy)', schema: { type: 'integer' } } },
  schema: { type: 'object', properties: { code: str, message: str } },
} as const;

export const SHADOW: SchemaObject = { type: 'object', properties: { enabled: { type: 'boolean' } }, additionalProperties: true, description: 'with enabled: true, the /v1/status shadow section' };

export const REPORTS: SchemaObject = {
  type: 'object',
  properties: {
    reports: {
      type: 'array',
      items: { type: 'object', properties: { name: str, kind: { type: 'string', enum: ['replay', 'privileges', 'unknown'] }, created_at: str, bytes: num } },
    },
  },
};

export const CONSOLE_CONFIG: SchemaObject = {
  type: 'object',
  properties: {
    admin_audience: str,
    api_base: str,
    read_scope: str,
    admin_scope: str,
    oauth: { type: 'object', nullable: true, properties: { issuer: str, client_id: str, scopes: { type: 'array', items: str }, resource: str } },
  },
};
