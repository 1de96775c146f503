import { CommandFailedError } from '../common/command-errors.js';
import type { PostgresConnectionConfig } from '../config/config.schema.js';
import { loadConfigFile } from '../config/load-config.js';
import { createPool, describeUrl } from './connection.js';
import { migrate } from './migrations.js';

/**
 * `toolgate migrate`: applies pending schema migrations to every database the
 * config names (revocations, decision logs), each once, under the advisory
 * lock replicas take at start. Returns one line per database.
 */
export async function migrateFromConfig(configFile: string): Promise<string[]> {
  const config = loadConfigFile(configFile);
  const targets = new Map<string, PostgresConnectionConfig>();
  for (const pg of [config.revocation.postgres, config.decision_logs.postgres]) if (pg && !targets.has(pg.url)) targets.set(pg.url, pg);
  if (targets.size === 0) {
    throw new CommandFailedError('postgres_not_configured', `${configFile} configures no PostgreSQL (revocation.postgres or decision_logs.postgres): nothing to migrate`);
  }
  const out: string[] = [];
  for (const cfg of targets.values()) {
    const pool = createPool({ ...cfg, pool_max: 1 }, 'toolgate-migrate', () => undefined);
    try {
      const r = await migrate(pool).catch((e: unknown) => {
        // A connection that never opened is the operator's to fix, not a bug: one line, no stack.
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|28P01|28000|3D000)$/.test(code)) {
          throw new CommandFailedError('postgres_unreachable', `${describeUrl(cfg.url)}: ${(e as Error).message || code}`);
        }
        throw e;
      });
      out.push(`${describeUrl(cfg.url)}: schema version ${r.current}${r.applied.length ? ` (applied ${r.applied.join(', ')})` : ' (up to date)'}`);
    } finally {
      await pool.end();
    }
  }
  return out;
}
