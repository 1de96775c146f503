/**
 * Every failure toolgate raises on purpose carries a stable snake_case `code`.
 * Tests and clients match on the code, never on the message. Only `answerFor`
 * (common/error.filter.ts) maps these errors to the HTTP status of toolgate's
 * own answer; the global exception filter and the plain decision routes both
 * call it. A decision's `http_status` (what the MCP server should answer) is a
 * result, not an error, and DecisionService sets it.
 */
export class ToolgateError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request body or parameters are malformed (HTTP 400). */
export class BadRequestError extends ToolgateError {}

/** The caller of toolgate itself is not authenticated or authorized (HTTP 401/403). */
export class CallerUnauthorizedError extends ToolgateError {
  constructor(
    code: 'caller_unauthenticated' | 'caller_forbidden',
    message: string,
    readonly wwwAuthenticate?: string,
  ) {
    super(code, message);
  }
}

/** No policy is active, so no decision can be made (HTTP 503). */
export class PolicyUnavailableError extends ToolgateError {
  constructor(message = 'no policy is loaded; toolgate is not ready') {
    super('policy_unavailable', message);
  }
}

/** A store toolgate depends on (the revocation database) cannot take a write now (HTTP 503); retry later. */
export class StoreUnavailableError extends ToolgateError {}

/** A configuration file is invalid; startup stops with this message. */
export class ConfigError extends ToolgateError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/**
 * Turns anything thrown (including the non-Error values some libraries throw:
 * strings, plain objects) into a readable message.
 */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  if (thrown && typeof thrown === 'object' && 'message' in thrown) {
    const m = (thrown as { message: unknown }).message;
    if (typeof m === 'string') return m;
  }
  try {
    return JSON.stringify(thrown);
  } catch {
    return String(thrown);
  }
}
