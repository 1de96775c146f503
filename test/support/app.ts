import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap.js';
import type { ToolgateConfig } from '../../src/config/config.schema.js';
import { parseConfig } from '../../src/config/load-config.js';

/** A running toolgate on a loopback port. */
export interface RunningApp {
  app: NestFastifyApplication;
  config: ToolgateConfig;
  url: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: unknown; text: string; headers: Headers }>;
  close(): Promise<void>;
}

/** Starts toolgate with `raw` config (validated like a file) on 127.0.0.1:0. */
export async function startApp(raw: Record<string, unknown>): Promise<RunningApp> {
  const config = parseConfig({ listen: { host: '127.0.0.1', port: 0 }, ...raw });
  const app = await createApp(config, { logger: process.env.TOOLGATE_TEST_LOG ? ['log', 'warn', 'error'] : false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    config,
    url,
    async post(path, body, headers = {}) {
      const res = await fetch(url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
    },
    async get(path, headers = {}) {
      const res = await fetch(url + path, { headers });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON (metrics)
      }
      return { status: res.status, body, text, headers: res.headers };
    },
    close: () => app.close(),
  };
}
