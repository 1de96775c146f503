import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';

const CLI = path.join(ROOT, 'dist/cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function toolgate(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// The CLI is run as users run it: the compiled bin (jest's global setup compiles src/ first).

describe('toolgate command line', () => {
  it('prints help for the program and for each command, exit 0', async () => {
    const top = await toolgate('--help');
    expect(top.code).toBe(0);
    for (const c of ['build', 'bundle', 'parity', 'capabilities', 'demo-keys', 'demo-token', 'demo-login']) expect(top.stdout).toContain(c);
    expect(top.stdout).toContain('Exit codes');
    const bundle = await toolgate('bundle', '--help');
    expect(bundle.code).toBe(0);
    expect(bundle.stdout).toContain('--signing-key <pem>');
    expect(bundle.stdout).not.toContain('--account');
  });

  it('refuses unknown commands, options of other commands and bad values with exit 2 and no stack trace', async () => {
    for (const args of [['bogus'], ['build', '--account', 'x'], ['demo-token', '--ttl', 'soon'], ['bundle', '--signing-alg', 'none'], ['demo-token', '--aud', 'not a url']]) {
      const r = await toolgate(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^error: /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('mints a demo token with the options given (from keys demo-keys created)', async () => {
    const keys = await mkdtemp(path.join(os.tmpdir(), 'toolgate-demo-keys-'));
    expect((await toolgate('demo-keys', '--out', keys)).code).toBe(0);
    const r = await toolgate('demo-token', '--sub', 'carol', '--roles', 'a,b', '--scope', 'x:read x:write', '--ttl', '120', '--keys', keys);
    await rm(keys, { recursive: true, force: true });
    expect(r.code).toBe(0);
    const claims = decodeJwt(r.stdout.trim());
    expect(claims).toMatchObject({ sub: 'carol', roles: ['a', 'b'], scope: 'x:read x:write' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
  });

  describe('build', () => {
    let ws: PolicyWorkspace;
    beforeAll(async () => {
      ws = await policyWorkspace();
    });
    afterAll(() => ws.cleanup());

    it('exits 1 naming file:line when the policy is refused', async () => {
      await ws.write('policies/broken.rego', 'package broken\n\nx if {\n  input.a ==\n}\n');
      const r = await toolgate('build', '--policies', ws.policies, '--tests', ws.tests, '--out', ws.out);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^check failed/m);
      expect(r.stderr).toMatch(/broken\.rego:\d+/);
      await ws.remove('policies/broken.rego');
    });

    it('builds the bundle and reports its revision', async () => {
      const r = await toolgate('build', '--policies', ws.policies, '--tests', ws.tests, '--out', ws.out, '--revision', 'cli-test');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^parity: \d+ passed, 0 diverged, 0 not checked/m);
      expect(r.stdout).toMatch(/^built .*bundle\.tar\.gz revision cli-test/m);
    });
  });
});
