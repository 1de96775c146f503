/**
 * The floor for HTTP benchmarks: a bare Fastify (the version toolgate runs on)
 * endpoint that parses the same JSON body and answers a fixed decision.
 * Usage: node dist/bench/floor-server.js <port>
 */
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 1024 * 1024 });
const answer = { decision_id: '00000000-0000-0000-0000-000000000000', allow: true, reasons: [], revision: 'floor' };
app.post('/v1/decisions', async (req) => {
  const body = req.body as { server?: unknown };
  return body && typeof body.server === 'string' ? answer : { allow: false };
});
app.get('/readyz', async () => ({ status: 'ready' }));
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 8299) });
