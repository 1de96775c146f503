import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { PostgresConnectionConfig } from '../config/config.schema.js';

/** node-postgres client options for a configured connection: URL, timeouts, TLS files read once. */
export function clientOptions(cfg: PostgresConnectionConfig, applicationName: string): pg.ClientConfig {
  let ssl: ConnectionOptions | undefined;
  if (cfg.tls) {
    ssl = {
      rejectUnauthorized: cfg.tls.reject_unauthorized,
      ca: cfg.tls.ca_file ? readFileSync(cfg.tls.ca_file, 'utf8') : undefined,
      cert: cfg.tls.cert_file ? readFileSync(cfg.tls.cert_file, 'utf8') : undefined,
      key: cfg.tls.key_file ? readFileSync(cfg.tls.key_file, 'utf8') : undefined,
    };
  }
  return {
    connectionString: cfg.url,
    connectionTimeoutMillis: cfg.connect_timeout_ms,
    statement_timeout: cfg.statement_timeout_ms,
    // Without keepalives a peer that vanished (host down, cable cut) leaves a LISTEN connection looking alive.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: applicationName,
    ...(ssl ? { ssl } : {}),
  };
}

/**
 * A pool for a configured connection. Idle clients that fail (server restart)
 * are reported through `onError` instead of crashing the process, as
 * node-postgres would on an unhandled 'error' event.
 */
export function createPool(cfg: PostgresConnectionConfig, applicationName: string, onError: (e: Error) => void): pg.Pool {
  const pool = new pg.Pool({ ...clientOptions(cfg, applicationName), max: cfg.pool_max, idleTimeoutMillis: 30_000 });
  pool.on('error', onError);
  return pool;
}

/** Where a connection goes, without its password, for logs and /v1/status. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres (unparseable url)';
  }
}
