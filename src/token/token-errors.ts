import { ToolgateError } from '../common/errors.js';

/**
 * Stable codes for tokens that cannot be accepted. Each means HTTP 401 for
 * the MCP server (with a `Bearer error="invalid_token"` challenge), except
 * `issuer_unavailable` and `revocation_stale`: the token may be fine but
 * toolgate cannot tell now (no usable keys; revocation state too old), which
 * is toolgate's side, so 503 without a challenge (DecisionService.denyFor).
 */
export type TokenErrorCode =
  | 'token_missing'
  | 'token_malformed'
  | 'token_invalid_signature'
  | 'token_algorithm_rejected'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_issuer_untrusted'
  | 'token_audience_mismatch'
  | 'token_type_invalid'
  | 'token_revoked'
  | 'issuer_unavailable'
  | 'revocation_stale';

/** A bearer token was rejected. `code` says why; the message is safe to show (never contains the token). */
export class TokenError extends ToolgateError {
  constructor(
    override readonly code: TokenErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}
