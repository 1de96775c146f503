import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { ROOT } from './policy-fixtures.js';
import { waitFor } from './wait.js';

/** An answer, or the network error of a request whose connection died. */
export type Outcome = { status: number; body: Record<string, unknown> } | { error: string };

/**
 * One HTTP request. `agent: false` opens a fresh connection, so node:cluster hands it
 * to the next worker in turn; an agent with keep-alive stays on one worker.
 */
export function request(url: string, method: string, body?: unknown, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, agent, headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => resolve({ error: e.message }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = { text };
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // metrics are text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', (e) => resolve({ error: e.message }));
    // node:cluster can lose a connection it was handing to a worker that died meanwhile: count it as failed.
    req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
    req.end(payload);
  });
}

/** toolgate started as a real program (`node dist/main.js`), primary and workers. */
export class ToolgateProcess {
  private out = '';
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout!.on('data', (c: Buffer) => (this.out += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (this.out += c.toString('utf8')));
  }

  /** Everything the primary and its workers logged so far, without colours. */
  log(): string {
    // eslint-disable-next-line no-control-regex
    return this.out.replace(/\x1b\[[0-9;]*m/g, '');
  }

  static async start(configFile: string, port: number): Promise<ToolgateProcess> {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/main.js'), '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ToolgateProcess(child, `http://127.0.0.1:${port}`);
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`toolgate exited: ${p.log().slice(-2000)}`);
        const r = await request(`${p.url}/readyz`, 'GET');
        return 'status' in r && r.status === 200;
      }, 120_000, 'cluster ready');
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const force = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(force);
  }
}
