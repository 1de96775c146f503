#!/usr/bin/env node
/**
 * toolgate command line: build policy bundles and capabilities as CI would.
 *   node dist/cli.js build [--policies policies] [--tests rego-tests] [--out build] [--no-tests]
 *   node dist/cli.js parity [--policies policies] [--tests rego-tests] [--out build]   [--all-checked]  (opa test + the parity gate only)
 *   node dist/cli.js bundle [--signing-key key.pem --signing-alg RS256 --key-id ci --scope toolgate] [--output file]
 *   node dist/cli.js capabilities [--out build/capabilities]
 *   node dist/cli.js demo-keys [--out .toolgate/demo]
 *   node dist/cli.js demo-token --sub alice --roles support_agent --scope "refunds:write" [--ttl 3600]
 *   node dist/cli.js demo-login --account alice --scope "refunds:write" [--aud <resource>] [--issuer http://127.0.0.1:9000]
 */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCapabilitiesFile } from './policy-compiler/capabilities.js';
import { PolicyBuildError } from './policy-compiler/errors.js';
import { runRegoTests } from './policy-compiler/opa-test-results.js';
import { assertParity, checkParity, describeOutcome, paritySummary, type ParityReport } from './policy-compiler/parity.js';
import { buildPolicyBundle } from './policy-compiler/policy-builder.js';
import { ensureDemoKeys, mintDemoToken } from './demo/demo-issuer.js';

/** The parity summary, then every test that diverged or could not be checked. */
function printParity(report: ParityReport): void {
  console.log(paritySummary(report));
  for (const o of report.outcomes) if (o.status !== 'passed') console.log(`  ${describeOutcome(o)}`);
  for (const n of report.notes) console.log(`  note: ${n}`);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      policies: { type: 'string', default: 'policies' },
      tests: { type: 'string', default: 'rego-tests' },
      out: { type: 'string', default: 'build' },
      'no-tests': { type: 'boolean', default: false },
      'all-checked': { type: 'boolean', default: false },
      revision: { type: 'string' },
      'signing-key': { type: 'string' },
      'signing-alg': { type: 'string', default: 'RS256' },
      'key-id': { type: 'string', default: 'default' },
      scope: { type: 'string', default: '' },
      output: { type: 'string' },
      sub: { type: 'string', default: 'alice' },
      roles: { type: 'string', default: '' },
      projects: { type: 'string', default: '' },
      aud: { type: 'string', default: 'http://127.0.0.1:3000/mcp' },
      ttl: { type: 'string', default: '3600' },
      account: { type: 'string', default: 'alice' },
      issuer: { type: 'string', default: 'http://127.0.0.1:9000' },
    },
  });
  switch (command) {
    case 'build':
    case 'bundle': {
      const built = await buildPolicyBundle({
        policyDir: values.policies,
        testDir: values.tests,
        outDir: values.out,
        runTests: !values['no-tests'],
        revision: values.revision,
        signing: values['signing-key']
          ? { keyPath: values['signing-key'], alg: values['signing-alg'], keyId: values['key-id'], scope: values.scope || undefined }
          : undefined,
      });
      let where = built.bundlePath;
      if (values.output) {
        await copyFile(built.bundlePath, values.output);
        where = values.output;
      }
      if (built.parity) printParity(built.parity);
      const signed = values['signing-key'] ? `, signed with key "${values['key-id']}"` : '';
      console.log(`built ${path.relative(process.cwd(), where)} revision ${built.revision}${signed}`);
      return 0;
    }
    case 'parity': {
      // The gate alone: opa test, then the same tests through the wasm runtime; no bundle.
      const policyDir = path.resolve(values.policies);
      const testDir = path.resolve(values.tests);
      const capabilities = await ensureCapabilitiesFile(path.join(values.out, 'capabilities'));
      const tests = await runRegoTests({ policyDir, testDir });
      const report = await checkParity({ policyDir, testDir, outDir: path.resolve(values.out), capabilities, tests });
      printParity(report);
      assertParity(report);
      if (values['all-checked'] && report.notChecked > 0) {
        console.error(`parity: ${report.notChecked} test(s) could not be checked under wasm (--all-checked)`);
        return 1;
      }
      return 0;
    }
    case 'capabilities': {
      const file = await ensureCapabilitiesFile(path.join(values.out, 'capabilities'));
      console.log(file);
      return 0;
    }
    case 'demo-keys': {
      const dir = values.out === 'build' ? '.toolgate/demo' : values.out;
      console.log(await ensureDemoKeys(dir));
      return 0;
    }
    case 'demo-token': {
      const list = (s: string) => s.split(/[ ,]+/).filter(Boolean);
      const token = await mintDemoToken('.toolgate/demo', {
        sub: values.sub,
        roles: list(values.roles),
        scope: list(values.scope).join(' '),
        projects: list(values.projects),
        aud: values.aud,
        ttlSeconds: Number(values.ttl),
      });
      console.log(token);
      return 0;
    }
    case 'demo-login': {
      // Against `make demo`'s authorization server: register a client, run the code flow with PKCE.
      const { DemoAuthorizationServer } = await import('./demo/authorization-server.js');
      const as = DemoAuthorizationServer.at(values.issuer);
      const client = await as.register();
      const scope = ['openid', ...values.scope.split(/[ ,]+/).filter(Boolean)].join(' ');
      console.log(await as.token({ ...client, account: values.account, scope, resource: values.aud }));
      return 0;
    }
    default:
      console.error('usage: cli.js build|bundle|parity|capabilities|demo-keys|demo-token|demo-login [options]; see README');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof PolicyBuildError) {
      console.error(`${err.step} failed (${err.code}): ${err.message}`);
      for (const p of err.problems) console.error(`  ${p.file ? `${p.file}:${p.line}: ` : ''}${p.message}`);
    } else {
      console.error(err);
    }
    process.exit(1);
  },
);
