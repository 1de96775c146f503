#!/usr/bin/env node
/**
 * The `toolgate` command line (package.json `bin`). `toolgate --help` lists the
 * commands, `toolgate <command> --help` their options. Exit codes are the same
 * for every command and documented in the README:
 *   0 success · 1 failure: the policy was refused (check, test, parity, build or signing failed)
 *     or an expected failure (a missing file, an unreachable server), one line with its code
 *   2 usage error (unknown command or option, bad option value or config, a missing option)
 *   3 unexpected error (a bug: printed with its stack) · 4 `replay` only: more flips than --max-flips.
 */
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CommandFailedError, UsageError } from './common/command-errors.js';
import { ConfigError, describeThrown, ToolgateError } from './common/errors.js';
import { ensureCapabilitiesFile } from './policy-compiler/capabilities.js';
import { PolicyBuildError } from './policy-compiler/errors.js';
import { runRegoTests } from './policy-compiler/opa-test-results.js';
import { assertParity, checkParity, describeOutcome, paritySummary, type ParityReport } from './policy-compiler/parity.js';
import { buildPolicyBundle } from './policy-compiler/policy-builder.js';
import { ensureDemoKeys, mintDemoToken } from './demo/demo-issuer.js';
import { privilegesCommand } from './privileges/privileges-command.js';
import { FlipThresholdError, replayCommand } from './replay/replay-command.js';
import { TOOLGATE_VERSION } from './version.js';

/** Exit codes of every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2, error: 3, flips: 4 } as const;

const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function list(s: string): string[] {
  return s.split(/[ ,]+/).filter(Boolean);
}

function integer(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}

function url(v: string): string {
  try {
    return new URL(v).toString().replace(/\/$/, v.endsWith('/') ? '/' : '');
  } catch {
    throw new InvalidArgumentError('not a URL');
  }
}

/** The parity summary, then every test that diverged or could not be checked. */
function printParity(report: ParityReport): void {
  console.log(paritySummary(report));
  for (const o of report.outcomes) if (o.status !== 'passed') console.log(`  ${describeOutcome(o)}`);
  for (const n of report.notes) console.log(`  note: ${n}`);
}

interface BuildOptions {
  policies: string;
  /** commander's `--no-tests` turns this into false. */
  tests: string | false;
  out: string;
  revision?: string;
  signingKey?: string;
  signingAlg: string;
  keyId: string;
  scope?: string;
  output?: string;
}

async function build(o: BuildOptions): Promise<void> {
  const built = await buildPolicyBundle({
    policyDir: o.policies,
    testDir: typeof o.tests === 'string' ? o.tests : 'rego-tests',
    outDir: o.out,
    runTests: o.tests !== false,
    revision: o.revision,
    signing: o.signingKey ? { keyPath: o.signingKey, alg: o.signingAlg, keyId: o.keyId, scope: o.scope || undefined } : undefined,
  });
  let where = built.bundlePath;
  if (o.output) {
    await copyFile(built.bundlePath, o.output);
    where = o.output;
  }
  if (built.parity) printParity(built.parity);
  const signed = o.signingKey ? `, signed with key "${o.keyId}"` : '';
  console.log(`built ${path.relative(process.cwd(), where)} revision ${built.revision}${signed}`);
}

function buildCommand(name: 'build' | 'bundle', summary: string): Command {
  return new Command(name)
    .summary(summary)
    .description(
      `${summary}. Runs opa check --strict with toolgate's capabilities, the Rego tests (the gate) ` +
        'and opa build -t wasm; any failure prints each problem with file:line and exits 1.',
    )
    .option('--policies <dir>', 'policy directory', 'policies')
    .option('--tests <dir>', 'Rego test directory', 'rego-tests')
    .option('--no-tests', 'skip the test gate (not for production bundles)')
    .option('--out <dir>', 'output directory (bundle.tar.gz goes here)', 'build')
    .option('--output <file>', 'also copy the bundle to this file')
    .option('--revision <label>', 'manifest revision label (default: git-<commit> or sha256-<content hash>)')
    .option('--signing-key <pem>', 'sign the bundle with this private key (opa build --signing-key)')
    .addOption(new Option('--signing-alg <alg>', 'signature algorithm').choices(SIGNING_ALGS).default('RS256'))
    .option('--key-id <id>', 'key id written into the signed claims', 'default')
    .option('--scope <scope>', 'scope written into the signed claims');
}

/** The command tree. */
function program(): Command {
  const p = new Command('toolgate')
    .description('Runtime authorization boundary for MCP servers: build and sign policy bundles, mint demo tokens.')
    .version(TOOLGATE_VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit codes: 0 ok, 1 failure (policy refused, missing file, unreachable server), 2 usage error, 3 unexpected error, 4 replay flips beyond --max-flips.\nThe service itself: node dist/main.js --config <file>.');

  p.addCommand(
    buildCommand('build', 'Check, test and compile a policy directory to <out>/bundle.tar.gz').action((o: BuildOptions) =>
      build(o),
    ),
  );
  p.addCommand(
    buildCommand('bundle', 'Build a bundle as CI would, optionally signed').action((o: BuildOptions) => build(o)),
  );
  p.addCommand(
    new Command('parity')
      .summary('Run the Rego tests under opa test and through the WASM runtime toolgate answers with; no bundle')
      .description(
        'The parity gate alone: every test that passes under opa test (topdown) must also pass when compiled to WASM ' +
          "and run with toolgate's host builtins. A divergence names the test, its file:line and both results, and exits 1.",
      )
      .option('--policies <dir>', 'policy directory', 'policies')
      .option('--tests <dir>', 'Rego test directory', 'rego-tests')
      .option('--out <dir>', 'scratch output directory', 'build')
      .option('--all-checked', 'also exit 1 when a test cannot be checked under WASM')
      .action(async (o: { policies: string; tests: string; out: string; allChecked?: boolean }) => {
        const policyDir = path.resolve(o.policies);
        const testDir = path.resolve(o.tests);
        // Checked here: opa would run with a missing working directory and every test would "fail".
        if (!(await stat(policyDir).catch(() => undefined))?.isDirectory()) {
          throw new PolicyBuildError('policy_dir_missing', 'check', `policy directory ${policyDir} does not exist`);
        }
        if (!(await stat(testDir).catch(() => undefined))?.isDirectory()) {
          throw new PolicyBuildError('policy_tests_missing', 'test', `test directory ${testDir} does not exist`);
        }
        const capabilities = await ensureCapabilitiesFile(path.join(o.out, 'capabilities'));
        const tests = await runRegoTests({ policyDir, testDir });
        const report = await checkParity({ policyDir, testDir, outDir: path.resolve(o.out), capabilities, tests });
        printParity(report);
        assertParity(report);
        if (o.allChecked && report.notChecked > 0) {
          throw new PolicyBuildError('policy_parity_unchecked', 'parity', `${report.notChecked} test(s) could not be checked under wasm (--all-checked)`, []);
        }
      }),
  );
  p.addCommand(replayCommand());
  p.addCommand(privilegesCommand());
  p.addCommand(
    new Command('capabilities')
      .summary("Write the capabilities file of toolgate's WASM runtime and print its path")
      .option('--out <dir>', 'output directory (the file goes under <out>/capabilities)', 'build')
      .action(async (o: { out: string }) => {
        console.log(await ensureCapabilitiesFile(path.join(o.out, 'capabilities')));
      }),
  );
  p.addCommand(
    new Command('demo-keys')
      .summary("Create the demo issuer's key pair (once) and print its directory")
      .option('--out <dir>', 'key directory', '.toolgate/demo')
      .action(async (o: { out: string }) => {
        console.log(await ensureDemoKeys(o.out));
      }),
  );
  p.addCommand(
    new Command('demo-token')
      .summary('Mint a token from the demo issuer (make run) and print it')
      .option('--sub <sub>', 'subject', 'alice')
      .option('--roles <list>', 'roles claim, comma or space separated', '')
      .option('--scope <list>', 'scopes, comma or space separated', '')
      .option('--projects <list>', 'projects claim, comma or space separated', '')
      .option('--aud <uri>', 'audience (a protected resource, or the admin audience)', url, 'http://127.0.0.1:3000/mcp')
      .option('--ttl <seconds>', 'lifetime in seconds (negative: already expired, for tests)', integer('--ttl'), 3600)
      .option('--keys <dir>', 'demo key directory', '.toolgate/demo')
      .action(async (o: { sub: string; roles: string; scope: string; projects: string; aud: string; ttl: number; keys: string }) => {
        const token = await mintDemoToken(o.keys, {
          sub: o.sub,
          roles: list(o.roles),
          scope: list(o.scope).join(' '),
          projects: list(o.projects),
          aud: o.aud,
          ttlSeconds: o.ttl,
        });
        console.log(token);
      }),
  );
  p.addCommand(
    new Command('demo-login')
      .summary("Run the authorization code flow with PKCE against make demo's authorization server; print the access token")
      .option('--account <name>', 'demo account (alice, fred, erin, rita; ops-reader, ops-admin for the admin API)', 'alice')
      .option('--scope <list>', 'scopes to request, comma or space separated', '')
      .option('--aud <uri>', 'resource indicator (RFC 8707)', url, 'http://127.0.0.1:3000/mcp')
      .option('--issuer <url>', 'authorization server', url, 'http://127.0.0.1:9000')
      .action(async (o: { account: string; scope: string; aud: string; issuer: string }) => {
        const { DemoAuthorizationServer } = await import('./demo/authorization-server.js');
        const as = DemoAuthorizationServer.at(o.issuer.replace(/\/$/, ''));
        const scope = ['openid', ...list(o.scope)].join(' ');
        let token: string;
        try {
          const client = await as.register();
          token = await as.token({ ...client, account: o.account, scope, resource: o.aud });
        } catch (e) {
          // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, …) is its cause.
          const cause = (e as { cause?: unknown }).cause;
          if (e instanceof TypeError && cause) {
            throw new CommandFailedError('issuer_unreachable', `cannot reach the authorization server at ${o.issuer}: ${describeThrown(cause)} (is make demo running?)`);
          }
          throw e;
        }
        console.log(token);
      }),
  );
  p.addCommand(
    new Command('migrate')
      .summary('Apply pending PostgreSQL schema migrations for the databases a config names (safe while replicas run)')
      .requiredOption('--config <file>', 'toolgate configuration file')
      .action(async (o: { config: string }) => {
        const { migrateFromConfig } = await import('./postgres/migrate-command.js');
        for (const line of await migrateFromConfig(o.config)) console.log(line);
      }),
  );
  for (const c of [p, ...p.commands]) c.exitOverride().configureOutput({ outputError: (s, write) => write(s) });
  return p;
}

/** Runs the command line; resolves to the exit code (never throws). */
async function run(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    // InvalidArgumentError is a CommanderError: tested first. Commander prints the errors it raises
    // itself (an option parser's InvalidArgumentError included, re-thrown as a plain CommanderError);
    // one that reaches here was thrown by a command's action and has not been printed yet.
    if (err instanceof InvalidArgumentError) {
      console.error(`error: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      console.error(`error: ${err.message} (${err.code})`);
      return EXIT.usage;
    }
    if (err instanceof FlipThresholdError) {
      console.error(`replay: ${err.message}`);
      return EXIT.flips;
    }
    if (err instanceof PolicyBuildError) {
      console.error(`${err.step} failed (${err.code}): ${err.message}`);
      for (const pr of err.problems) console.error(`  ${pr.file ? `${pr.file}:${pr.line}: ` : ''}${pr.message}`);
      return EXIT.failed;
    }
    if (err instanceof ToolgateError) {
      console.error(`error: ${err.message} (${err.code})`);
      return EXIT.failed;
    }
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return EXIT.error;
  }
}

void run(process.argv.slice(2)).then((code) => process.exit(code));
