import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './net.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Where Debian's postgresql-15 package puts the server binaries (`make setup` installs it). */
export const PG_BIN = process.env.TOOLGATE_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A real PostgreSQL server for one test file: its own cluster in a temporary
 * directory, on its own loopback port, with its unix socket in that directory.
 * initdb and postgres refuse to run as root, so as root they run as the
 * `postgres` OS user. `crash()` stops it the way a crash would (immediate
 * shutdown: every backend killed, no checkpoint); `start()` brings the same
 * cluster back (crash recovery) on the same port.
 */
export class TestPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** The database tests use, owned by the superuser `toolgate` (trust auth, loopback only). */
  get url(): string {
    return this.urlFor('toolgate');
  }

  urlFor(database: string): string {
    return `postgres://toolgate@127.0.0.1:${this.port}/${database}`;
  }

  private get data(): string {
    return path.join(this.dir, 'data');
  }

  private async as(cmd: string, args: string[]): Promise<string> {
    const bin = path.join(PG_BIN, cmd);
    const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    const { stdout } = await run(file, argv, { timeout: 60_000 });
    return stdout;
  }

  /** initdb, start, and create the `toolgate` database. */
  static async create(): Promise<TestPostgres> {
    if (!existsSync(path.join(PG_BIN, 'postgres'))) {
      throw new Error(`PostgreSQL 15 is not installed (${PG_BIN}/postgres missing): run make setup`);
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-pg-'));
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await chmod(dir, 0o700);
    const t = new TestPostgres(dir, await freePort());
    await t.as('initdb', ['-D', t.data, '-A', 'trust', '-U', 'toolgate', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await t.start();
    const c = new pg.Client({ connectionString: t.urlFor('postgres') });
    await c.connect();
    await c.query('CREATE DATABASE toolgate');
    await c.end();
    return t;
  }

  /** Starts the cluster (again) and waits until it accepts connections. */
  async start(): Promise<void> {
    const opts = `-p ${this.port} -h 127.0.0.1 -k ${this.dir} -c max_connections=100`;
    await this.as('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-o', opts, '-w', '-t', '30', 'start']);
    await waitFor(async () => {
      const c = new pg.Client({ connectionString: this.urlFor('postgres') });
      try {
        await c.connect();
        await c.end();
        return true;
      } catch {
        return false;
      }
    }, 30_000, 'postgres to accept connections');
  }

  /** Immediate shutdown: every connection dies at once, nothing is flushed, as in a crash. */
  async crash(): Promise<void> {
    await this.as('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
  }

  /** A short-lived client on the test database. */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const c = new pg.Client({ connectionString: this.url });
    await c.connect();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** Stops the server and removes the cluster. */
  async destroy(): Promise<void> {
    await this.as('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
