/**
 * Benchmark-only launcher: N toolgate workers sharing one port with
 * node:cluster (the primary hands out connections round-robin). Each worker
 * loads the same config with its own policy build directory, so their builds
 * do not collide. Not a product feature: production runs one toolgate process
 * per core behind a load balancer, or several replicas.
 * Usage: node dist/bench/cluster.js <config.json> <workers>
 */
import cluster from 'node:cluster';
import { readFileSync, writeFileSync } from 'node:fs';

const [file, n] = [process.argv[2], Number(process.argv[3] ?? 2)];

if (cluster.isPrimary) {
  const workers = Array.from({ length: n }, () => cluster.fork());
  process.on('SIGTERM', () => {
    for (const w of workers) w.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  });
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
} else {
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { policy?: { source?: { out?: string } } };
  if (cfg.policy?.source?.out) cfg.policy.source.out = `${cfg.policy.source.out}-w${cluster.worker!.id}`;
  const own = `${file}.w${cluster.worker!.id}.json`;
  writeFileSync(own, JSON.stringify(cfg));
  process.argv.push('--config', own);
  await import('../main.js');
}
