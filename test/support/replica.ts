import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './net.js';
import { waitFor } from './wait.js';

/** A toolgate replica: `node dist/main.js` in its own process, with its own config file. */
export class Replica {
  private output = '';
  private exited = false;

  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => this.keep(d));
    child.stderr?.on('data', (d: Buffer) => this.keep(d));
    child.on('exit', () => {
      this.exited = true;
    });
  }

  private keep(d: Buffer): void {
    this.output = (this.output + d.toString()).slice(-20_000);
  }

  /** Writes `config` (listen port added) to `<dir>/<name>.json`, starts the process and waits for /readyz. */
  static async start(name: string, dir: string, config: Record<string, unknown>): Promise<Replica> {
    const port = await freePort();
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify({ ...config, listen: { host: '127.0.0.1', port }, instance_id: name }));
    const child = spawn(process.execPath, ['dist/main.js', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = new Replica(name, `http://127.0.0.1:${port}`, child);
    try {
      await waitFor(async () => {
        if (r.exited) throw new Error(`${name} exited:\n${r.output}`);
        return (await fetch(`${r.url}/readyz`).catch(() => undefined))?.status === 200;
      }, 30_000, `${name} to be ready`);
    } catch (e) {
      await r.stop();
      throw e;
    }
    return r;
  }

  /** The last lines the process printed (for failure messages). */
  get log(): string {
    return this.output;
  }

  async post(p: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(this.url + p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async get(p: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
    const res = await fetch(this.url + p);
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // metrics are text
    }
    return { status: res.status, body, text };
  }

  /** SIGTERM (graceful shutdown flushes decision logs), then waits for the exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  }
}
