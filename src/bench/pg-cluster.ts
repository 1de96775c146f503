import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Where Debian's postgresql-15 package puts the server binaries (`make setup` installs it). */
export const PG_BIN = process.env.TOOLGATE_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A real PostgreSQL server for one test or benchmark (support code, not a product feature): its own cluster in a temporary
 * directory, on its own loopback port, with its unix socket in that directory.
 * initdb and postgres refuse to run as root, so as root they run as the
 * `postgres` OS user. `crash()` stops it the way a crash would (immediate
 * shutdown: every backend killed, no checkpoint); `start()` brings the same
 * cluster back (crash recovery) on the same port.
 */
export class PgCluster {
  private tls = false;

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

  /** initdb, start (with TLS when given a PEM certificate and key), and create the `toolgate` database. */
  static async create(tls?: { cert: string; key: string }): Promise<PgCluster> {
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
    const t = new PgCluster(dir, await freePort());
    if (tls) {
      // The server refuses a key file others can read; it must belong to the user it runs as.
      for (const [file, pem] of [['server.crt', tls.cert], ['server.key', tls.key]]) {
        await writeFile(path.join(dir, file), pem, { mode: 0o600 });
        if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', path.join(dir, file)]);
      }
      t.tls = true;
    }
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
    const ssl = this.tls ? ` -c ssl=on -c ssl_cert_file=${this.dir}/server.crt -c ssl_key_file=${this.dir}/server.key` : '';
    const opts = `-p ${this.port} -h 127.0.0.1 -k ${this.dir} -c max_connections=100${ssl}`;
    await this.as('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-o', opts, '-w', '-t', '30', 'start']);
    for (let deadline = Date.now() + 30_000; ; ) {
      const c = new pg.Client({ connectionString: this.urlFor('postgres') });
      try {
        await c.connect();
        await c.end();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** CPU seconds used so far by the server: the postmaster, its live backends and the children it has reaped. */
  async cpuSeconds(): Promise<number> {
    const pid = Number((await readFile(path.join(this.data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    let total = 0;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      // Fields after the command name (which may contain spaces): state is field 3, ppid 4, utime..cstime 14-17.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) !== pid && Number(f[1]) !== pid) continue;
      total += Number(f[11]) + Number(f[12]) + (Number(entry) === pid ? Number(f[13]) + Number(f[14]) : 0);
    }
    return total / 100;
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
