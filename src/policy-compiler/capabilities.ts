import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST_BUILTINS } from '../evaluator/host-builtins.js';
import { sdkBuiltinNames } from '../evaluator/sdk-builtins.js';
import { introspectWasm } from '../evaluator/wasm-introspect.js';
import { readBundleArchive } from './bundle-archive.js';
import { PolicyBuildError } from './errors.js';
import { runOpa } from './opa-cli.js';

interface BuiltinDecl {
  name: string;
  infix?: string;
  decl?: { args?: unknown[]; result?: unknown; variadic?: unknown };
  [k: string]: unknown;
}

/** The OPA capabilities document, as `opa capabilities` prints it. */
export interface Capabilities {
  builtins: BuiltinDecl[];
  future_keywords?: string[];
  features?: string[];
  [k: string]: unknown;
}

/** Where each supported builtin comes from; written next to the capabilities file. */
export interface CapabilitiesReport {
  opaVersion: string;
  native: string[];
  sdk: string[];
  host: string[];
  unsupported: string[];
}

/** Operators and compiler internals that have no callable form but are compiled natively. */
const ALWAYS_NATIVE = ['assign', 'eq', 'internal.member_2', 'internal.member_3'];
const PROBE_SKIP = new Set([...ALWAYS_NATIVE, 'internal.print', 'internal.template_string', 'internal.test_case']);
/** Language features compiled through internal builtins; probed with real syntax. */
const SYNTAX_PROBES = [{ name: 'internal.template_string', line: 'rts := $"{input.a0}"' }];

async function opaJson<T>(args: string[], opaBinary?: string): Promise<T> {
  const run = await runOpa(args, { opaBinary });
  if (run.code !== 0) {
    throw new PolicyBuildError('capabilities_failed', 'capabilities', `opa ${args.join(' ')} failed: ${run.stderr || run.stdout}`);
  }
  return JSON.parse(run.stdout) as T;
}

/**
 * Finds which builtins OPA's wasm compiler implements natively, by compiling a
 * probe policy that calls every builtin and asking the module which ones it
 * imports from the host. Deprecated builtins (rejected by Rego v1) drop out.
 */
async function probeNative(full: Capabilities, opaBinary?: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-caps-'));
  try {
    const capsPath = path.join(dir, 'caps.json');
    await writeFile(capsPath, JSON.stringify(full));
    let rules = full.builtins
      .filter((b) => !PROBE_SKIP.has(b.name))
      .map((b, i) => {
        const argc = b.decl?.args?.length ?? 0;
        const args = Array.from({ length: argc }, (_, j) => `input.a${j}`).join(', ');
        const line = b.decl?.result === undefined ? `r${i} if { ${b.name}(${args}) }` : `r${i} := ${b.name}(${args})`;
        return { name: b.name, line };
      });
    rules.push(...SYNTAX_PROBES.filter((p) => full.builtins.some((b) => b.name === p.name)));
    for (let attempt = 0; attempt < 20; attempt++) {
      const src = ['package probe', '', ...rules.map((r) => r.line)].join('\n') + '\n';
      await writeFile(path.join(dir, 'probe.rego'), src);
      const out = path.join(dir, 'probe.tar.gz');
      const run = await runOpa(['build', '-t', 'wasm', '-e', 'probe', '--capabilities', capsPath, '-o', out, 'probe.rego'], {
        cwd: dir,
        opaBinary,
      });
      if (run.code === 0) {
        const files = readBundleArchive(await readFile(out));
        const wasm = files.get('/policy.wasm');
        if (!wasm) throw new PolicyBuildError('capabilities_failed', 'capabilities', 'probe bundle has no policy.wasm');
        const viaHost = new Set(introspectWasm(new WebAssembly.Module(wasm)).hostBuiltins);
        return rules.map((r) => r.name).filter((n) => !viaHost.has(n));
      }
      const bad = new Set<number>();
      for (const m of (run.stdout + run.stderr).matchAll(/probe\.rego:(\d+):/g)) bad.add(Number(m[1]) - 3);
      if (bad.size === 0) {
        throw new PolicyBuildError('capabilities_failed', 'capabilities', `probe build failed: ${run.stdout}${run.stderr}`);
      }
      rules = rules.filter((_, idx) => !bad.has(idx));
    }
    throw new PolicyBuildError('capabilities_failed', 'capabilities', 'probe build did not converge');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Generates the capabilities document for `opa build -t wasm`: exactly the
 * builtins this runtime can execute (OPA's native wasm set ∪ the SDK's JS set ∪
 * toolgate's host builtins), with OPA's current language features (rego_v1).
 */
export async function generateCapabilities(opaBinary?: string): Promise<{ caps: Capabilities; report: CapabilitiesReport }> {
  const full = await opaJson<Capabilities>(['capabilities', '--current'], opaBinary);
  const version = await runOpa(['version'], { opaBinary });
  const opaVersion = /Version:\s*(\S+)/.exec(version.stdout)?.[1] ?? 'unknown';
  const native = new Set([...ALWAYS_NATIVE, ...(await probeNative(full, opaBinary))]);
  if (native.has('print')) native.add('internal.print');
  const host = new Set(Object.keys(HOST_BUILTINS));
  const sdk = new Set(effectiveSdkBuiltins());
  const supported = (n: string) => native.has(n) || sdk.has(n) || host.has(n);
  const features = new Set(full.features ?? []);
  features.add('rego_v1');
  const caps: Capabilities = {
    ...full,
    builtins: full.builtins.filter((b) => supported(b.name)),
    features: [...features].sort(),
  };
  const names = full.builtins.map((b) => b.name);
  const report: CapabilitiesReport = {
    opaVersion,
    native: names.filter((n) => native.has(n)).sort(),
    sdk: names.filter((n) => !native.has(n) && sdk.has(n)).sort(),
    host: names.filter((n) => !native.has(n) && !sdk.has(n) && host.has(n)).sort(),
    unsupported: names.filter((n) => !supported(n)).sort(),
  };
  return { caps, report };
}

/** The SDK builtins that stay the SDK's: a host builtin of the same name replaces the SDK's (see yieldSdkBuiltins). */
function effectiveSdkBuiltins(): string[] {
  return sdkBuiltinNames().filter((n) => !(n in HOST_BUILTINS));
}

/** Key for the cached capabilities file: changes when OPA, the SDK or the host registry change. */
async function capabilitiesKey(opaBinary?: string): Promise<string> {
  const version = await runOpa(['version'], { opaBinary });
  return createHash('sha256')
    .update(version.stdout)
    .update(effectiveSdkBuiltins().join(','))
    .update(Object.keys(HOST_BUILTINS).sort().join(','))
    .digest('hex')
    .slice(0, 16);
}

/**
 * Returns the path of an up-to-date capabilities file under `dir`, generating
 * it (and `capabilities.report.json`) only when its inputs changed.
 */
export async function ensureCapabilitiesFile(dir: string, opaBinary?: string): Promise<string> {
  const file = path.join(dir, 'capabilities.json');
  const stamp = path.join(dir, 'capabilities.key');
  const key = await capabilitiesKey(opaBinary);
  if (existsSync(file) && existsSync(stamp) && (await readFile(stamp, 'utf8')) === key) return file;
  const { caps, report } = await generateCapabilities(opaBinary);
  await mkdir(dir, { recursive: true });
  await writeFile(file, JSON.stringify(caps, null, 1));
  await writeFile(path.join(dir, 'capabilities.report.json'), JSON.stringify(report, null, 2));
  await writeFile(stamp, key);
  return file;
}
