/**
 * The floor for HTTP benchmarks: a bare Fastify (the version toolgate runs on)
 * endpoint that parses the same JSON body and answers a fixed decision.
 * Usage: node dist/bench/floor-server.js <port> [busy µs per request]
 * The optional busy work (a spin on the clock) shows what any fixed
 * per-request CPU cost does to throughput on the same machine and load.
 */
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 1024 * 1024 });
const answer = { decision_id: '00000000-0000-0000-0000-000000000000', allow: true, reasons: [], revision: 'floor' };
const workUs = Number(process.argv[3] ?? 0);
app.post('/v1/decisions', async (req) => {
  if (workUs > 0) {
    const t = performance.now();
    while ((performance.now() - t) * 1000 < workUs) {
      // busy: stands in for per-request work such as a policy evaluation
    }
  }
  const body = req.body as { server?: unknown };
  return body && typeof body.server === 'string' ? answer : { allow: false };
});
app.get('/readyz', async () => ({ status: 'ready' }));
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 8299) });
// A clean exit on SIGTERM, so a --cpu-prof profile is written.
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
