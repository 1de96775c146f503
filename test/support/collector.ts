import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** A decision-log collector on 127.0.0.1 speaking OPA's upload format (gzip JSON array POSTs). */
export class TestCollector {
  events: Record<string, unknown>[] = [];
  rawBodies: string[] = [];
  /** When set, answers this status and stores nothing. */
  failWith?: number;
  posts = 0;
  private server?: http.Server;
  url = '';

  static async start(port = 0): Promise<TestCollector> {
    const c = new TestCollector();
    await c.listen(port);
    return c;
  }

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        this.posts++;
        if (this.failWith) {
          res.writeHead(this.failWith).end();
          return;
        }
        const body = Buffer.concat(chunks);
        const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body).toString('utf8') : body.toString('utf8');
        this.rawBodies.push(text);
        this.events.push(...(JSON.parse(text) as Record<string, unknown>[]));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    const p = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${p}/logs`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
