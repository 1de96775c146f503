import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { freePort } from './support/net.js';
import { ROOT } from './support/policy-fixtures.js';

const run = promisify(execFile);
const EXAMPLE = path.join(ROOT, 'examples', 'mcp-server.ts');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** The version of a package installed here, so the scratch project gets the same one from the npm cache. */
async function installed(pkg: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The first ```ts block after docs/guides/mcp-servers.md's "<!-- example: examples/mcp-server.ts -->" marker. */
function readmeExample(readme: string): string | undefined {
  const at = readme.indexOf('<!-- example: examples/mcp-server.ts -->');
  if (at < 0) return undefined;
  return /```ts\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
}

describe('toolgate/mcp as an installed package', () => {
  it("docs/guides/mcp-servers.md's guard example is examples/mcp-server.ts, the file the package test compiles and runs", async () => {
    expect(readmeExample(await readFile(path.join(ROOT, 'docs', 'guides', 'mcp-servers.md'), 'utf8'))).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  /** Every module specifier reachable from `entry` through relative imports, by file. */
  async function reachable(entry: string, resolve: (from: string, spec: string) => string): Promise<{ files: string[]; external: string[] }> {
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = await readFile(file, 'utf8');
      for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec.startsWith('.')) await visit(resolve(file, spec));
        else external.add(spec);
      }
    };
    await visit(entry);
    return { files: [...seen].map((f) => path.relative(path.join(ROOT, 'dist'), f)).sort(), external: [...external].filter((x) => !x.startsWith('node:')) };
  }

  it('the light entry toolgate/mcp loads no package at runtime but node builtins (no Nest, no policy engine, no MCP SDK)', async () => {
    const js = await reachable(path.join(ROOT, 'dist', 'mcp', 'index.js'), (from, spec) => path.resolve(path.dirname(from), spec));
    expect(js.files).toEqual(expect.arrayContaining(['mcp/guard.js', 'mcp/decider.js']));
    expect(js.external).toEqual([]);
  });

  it("toolgate/mcp's declarations do not pull in Nest's (a server compiling against it stays light)", async () => {
    const dts = await reachable(path.join(ROOT, 'dist', 'mcp', 'index.d.ts'), (from, spec) => path.resolve(path.dirname(from), spec.replace(/\.js$/, '.d.ts')));
    expect(dts.files).toEqual(expect.arrayContaining(['mcp/guard.d.ts', 'decision/decision-result.d.ts']));
    expect(dts.files.filter((f) => /service|module|controller/.test(f))).toEqual([]);
    expect(dts.external.filter((x) => x !== 'reflect-metadata')).toEqual([]);
  });

  describe('npm pack → npm install in a scratch project → tsc → run → one guarded call', () => {
    let dir: string;
    let idp: TestIssuer;
    let app: RunningApp;
    let child: ChildProcess | undefined;
    let resource: string;
    let files: string[];

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-pack-'));
      // global-setup has built dist/ (with declarations); pack exactly what npm would publish.
      const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT })).stdout) as { filename: string; files: { path: string }[] }[];
      files = packed[0].files.map((f) => f.path);
      const project = path.join(dir, 'project');
      await mkdir(path.join(project, 'src'), { recursive: true });
      const dependencies: Record<string, string> = { toolgate: `file:${path.join(dir, packed[0].filename)}` };
      for (const pkg of ['@modelcontextprotocol/sdk', 'zod', '@types/node']) dependencies[pkg] = await installed(pkg);
      await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'scratch-mcp-server', private: true, type: 'module', dependencies }));
      await writeFile(
        path.join(project, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], outDir: 'dist', rootDir: 'src' }, include: ['src'] }),
      );
      await copyFile(EXAMPLE, path.join(project, 'src', 'mcp-server.ts'));
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, maxBuffer: 16 * 1024 * 1024 });
      // Compiled against the installed package's own declarations (no path mapping into this repo).
      await run(process.execPath, [TSC, '-p', project]);

      idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
      const port = await freePort();
      resource = `http://127.0.0.1:${port}/mcp`;
      app = await startApp({
        policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [idp.issuer], scopes_supported: ['invoices:read'] }],
        revocation: { file: path.join(dir, 'revocations.json') },
      });
      child = spawn(process.execPath, [path.join(project, 'dist', 'mcp-server.js')], {
        cwd: project,
        env: { ...process.env, MCP_RESOURCE: resource, TOOLGATE_URL: app.url, AUTHORIZATION_SERVER: idp.issuer },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      // Ready when it says so (or the test fails on exit/timeout).
      let out = '';
      const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`example exited with ${code}: ${out}`)));
      await Promise.race([
        new Promise<void>((resolve) =>
          child!.stdout!.on('data', (c: Buffer) => {
            out += c.toString();
            if (out.includes('listening')) resolve();
          }),
        ),
        exited,
      ]);
    }, 240_000); // about a minute alone (npm install from the cache ~25 s, tsc, toolgate boot); generous for a loaded machine

    afterAll(async () => {
      if (child && child.exitCode === null) {
        child.kill();
        await once(child, 'exit');
      }
      await app?.close();
      await idp?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const call = async (token: string | undefined, body: unknown) => {
      const res = await fetch(resource, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(body),
      });
      return { status: res.status, headers: res.headers, json: (await res.json()) as { result?: Record<string, unknown>; error?: { message: string } } };
    };
    const read = (id: number) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'invoices.read', arguments: { invoice_id: `i-${id}` } } });

    it('ships dist with declarations and the README, and no tests', () => {
      expect(files).toEqual(expect.arrayContaining(['dist/mcp/index.js', 'dist/mcp/index.d.ts', 'dist/mcp/embedded.d.ts', 'README.md', 'package.json']));
      expect(files.filter((f) => !f.startsWith('dist/') && !['README.md', 'package.json'].includes(f))).toEqual([]);
      expect(files.filter((f) => /\.spec\.|(^|\/)test\//.test(f))).toEqual([]);
    });

    it('runs an allowed call through the guard with a real token, and refuses one without a token', async () => {
      const token = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'], scope: 'invoices:read' });
      const ok = await call(token, read(1));
      expect(ok.status).toBe(200);
      expect(JSON.stringify(ok.json.result?.content)).toContain('invoice i-1: 120.00 USD, paid');
      const anonymous = await call(undefined, read(2));
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('resource_metadata=');
    });

    it('filters tools/list per caller through guardLists', async () => {
      const list = (token: string) => call(token, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
      const alice = await list(await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'], scope: 'invoices:read' }));
      expect((alice.json.result?.tools as { name: string }[]).map((t) => t.name)).toEqual(['invoices.read']);
      const nobody = await list(await idp.sign({ aud: resource, sub: 'nobody', scope: 'invoices:read' }));
      expect(nobody.json.result?.tools).toEqual([]);
    });
  });
});
