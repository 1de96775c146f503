import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap.js';
import { ConfigError } from './common/errors.js';
import { configPathFromArgs, loadConfigFile } from './config/load-config.js';
import { runCluster } from './cluster/launch.js';
import { clusterPlan } from './cluster/workers-config.js';

async function main(): Promise<void> {
  const file = configPathFromArgs(process.argv.slice(2));
  if (!file) throw new ConfigError('no configuration: pass --config <file> or set TOOLGATE_CONFIG');
  const config = loadConfigFile(file);
  // workers (src/cluster): `workers` > 1 or a watchdog limit runs a primary and worker processes.
  const plan = clusterPlan(config);
  if (plan.workers > 0 && plan.evaluationMs !== undefined) return runCluster(config, { workers: plan.workers, evaluationMs: plan.evaluationMs }, file);
  const app = await createApp(config);
  await app.listen({ host: config.listen.host, port: config.listen.port });
  new Logger('toolgate').log(`listening on http://${config.listen.host}:${config.listen.port} (config ${file})`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`toolgate: ${err.message}`);
  } else {
    console.error('toolgate: failed to start:', err);
  }
  process.exit(1);
});
