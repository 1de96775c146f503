import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/**
 * Names of the builtins the npm SDK implements in JavaScript. Read from the SDK
 * itself rather than from its shipped capabilities.json, which is stale.
 */
export function sdkBuiltinNames(): string[] {
  const builtins = sdkTable();
  return Object.keys(builtins).filter((k) => typeof builtins[k] === 'function').sort();
}

function sdkTable(): Record<string, unknown> {
  const entry = require.resolve('@open-policy-agent/opa-wasm');
  // The package's exports map hides this file; an absolute path is not subject to it.
  return require(path.join(path.dirname(entry), 'builtins', 'index.js')) as Record<string, unknown>;
}

/**
 * The SDK looks a builtin up in its own table before the custom ones, so a
 * host builtin can only replace an SDK builtin by removing the SDK's entry.
 * Done once, at load, for the names given (e.g. `sprintf`).
 */
export function yieldSdkBuiltins(names: Iterable<string>): void {
  const table = sdkTable();
  for (const n of names) delete table[n];
}
