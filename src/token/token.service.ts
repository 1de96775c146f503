import { Injectable } from '@nestjs/common';
import { ToolgateConfig, type ServerConfig } from '../config/config.schema.js';
import { MetricsService } from '../health/metrics.service.js';
import { TokenVerifier, type VerifiedToken } from './token-verifier.js';

/** The Nest face of TokenVerifier: one verifier for the configured issuers, wired to metrics. */
@Injectable()
export class TokenService {
  readonly verifier: TokenVerifier;

  constructor(
    config: ToolgateConfig,
    private readonly metrics: MetricsService,
  ) {
    this.verifier = new TokenVerifier(config.issuers, {
      maxTokenBytes: config.limits.token_bytes,
      cacheEntries: config.token_cache.max_entries,
      onFetch: (issuer, result) => metrics.jwksFetches.inc({ issuer, result }),
    });
  }

  /** Verifies a bearer token for a server; throws TokenError. */
  async verify(token: string, server: ServerConfig): Promise<VerifiedToken> {
    const v = await this.verifier.verify(token, server);
    this.metrics.tokenCache.inc({ result: v.cached ? 'hit' : 'miss' });
    return v;
  }
}
