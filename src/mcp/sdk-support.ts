import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The MCP TypeScript SDK lines the list guard is tested with. Neither line
 * offers a public way to read or wrap a list handler once McpServer has
 * installed it, so guardLists relies on McpServer installing its list
 * handlers through the public `Server.setRequestHandler` of `mcp.server`.
 * That is behaviour, not API: a release outside these ranges may change it
 * and leave lists unfiltered, so the guard refuses it instead of guessing.
 */
export const SUPPORTED_SDKS = [
  { line: 1, package: '@modelcontextprotocol/sdk', min: '1.32.2', below: '2.0.0' },
  { line: 2, package: '@modelcontextprotocol/server', min: '2.4.0', below: '2.5.0' },
] as const;

/** An SDK line: 1 is `@modelcontextprotocol/sdk`, 2 is `@modelcontextprotocol/server`. */
export type SdkLine = (typeof SUPPORTED_SDKS)[number]['line'];

/** Thrown at setup when the SDK in use is not one the guard is tested with. */
export class UnsupportedSdkError extends Error {
  readonly code = 'unsupported_mcp_sdk';
}

function parts(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? m.slice(1).map(Number) : undefined;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** True when `version` is inside [min, below). Prereleases and odd strings are outside. */
export function inRange(version: string, min: string, below: string): boolean {
  const v = parts(version);
  return !!v && compare(v, parts(min)!) >= 0 && compare(v, parts(below)!) < 0;
}

/**
 * The version of `pkg` as Node would find it from `from` (toolgate's own
 * location by default, which in an installed project is the project's
 * node_modules): the first `node_modules/<pkg>/package.json` on Node's
 * lookup path. Read directly because neither SDK exports its package.json.
 * Undefined when the package is not installed.
 */
export function installedVersion(pkg: string, from: string = import.meta.url): string | undefined {
  for (const dir of createRequire(from).resolve.paths(pkg) ?? []) {
    const manifest = path.join(dir, pkg, 'package.json');
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (json.name === pkg) return json.version;
  }
  return undefined;
}

/**
 * Throws UnsupportedSdkError unless the installed package of `line` is in
 * its tested range. `version` is for tests; by default it is read from disk.
 */
export function assertSupportedSdk(line: SdkLine, version: string | undefined = undefined): void {
  const s = SUPPORTED_SDKS.find((x) => x.line === line)!;
  const v = version ?? installedVersion(s.package);
  if (v === undefined || !inRange(v, s.min, s.below)) {
    throw new UnsupportedSdkError(
      `toolgate's list guard supports ${s.package} >=${s.min} <${s.below}, found ${v ?? 'none'}: ` +
        'it filters lists through how McpServer installs its handlers, which the SDK does not promise to keep; ' +
        'use a tested SDK version or a toolgate release that supports this one',
    );
  }
}
