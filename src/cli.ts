#!/usr/bin/env node
/**
 * toolgate command line: build policy bundles and capabilities as CI would.
 *   node dist/cli.js build [--policies policies] [--tests rego-tests] [--out build] [--no-tests]
 *   node dist/cli.js capabilities [--out build/capabilities]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCapabilitiesFile } from './policy-compiler/capabilities.js';
import { PolicyBuildError } from './policy-compiler/errors.js';
import { buildPolicyBundle } from './policy-compiler/policy-builder.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      policies: { type: 'string', default: 'policies' },
      tests: { type: 'string', default: 'rego-tests' },
      out: { type: 'string', default: 'build' },
      'no-tests': { type: 'boolean', default: false },
      revision: { type: 'string' },
    },
  });
  switch (command) {
    case 'build': {
      const built = await buildPolicyBundle({
        policyDir: values.policies,
        testDir: values.tests,
        outDir: values.out,
        runTests: !values['no-tests'],
        revision: values.revision,
      });
      console.log(`built ${path.relative(process.cwd(), built.bundlePath)} revision ${built.revision}`);
      return 0;
    }
    case 'capabilities': {
      const file = await ensureCapabilitiesFile(path.join(values.out, 'capabilities'));
      console.log(file);
      return 0;
    }
    default:
      console.error('usage: cli.js build|capabilities [--policies dir] [--tests dir] [--out dir] [--no-tests]');
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
