/** What a compiled policy module declares about itself. */
export interface WasmModuleInfo {
  /** Builtins the module calls through the host (`opa_builtinN` imports). */
  hostBuiltins: string[];
  /** Entrypoint name → id. */
  entrypoints: Record<string, number>;
  abiVersion?: number;
  abiMinorVersion?: number;
}

function globalValue(g: unknown): number | undefined {
  if (typeof g === 'number') return g;
  if (g instanceof WebAssembly.Global) return Number(g.value);
  return undefined;
}

/**
 * Instantiates the module once with inert imports to read its `builtins()` and
 * `entrypoints()` exports. Used at load time (to refuse a module whose host
 * builtins the runtime lacks) and by the capabilities generator.
 */
export function introspectWasm(module: WebAssembly.Module): WasmModuleInfo {
  const memory = new WebAssembly.Memory({ initial: 5, maximum: 512 });
  const refuse = () => {
    throw new Error('policy module called the host during introspection');
  };
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      opa_abort: refuse,
      opa_println: refuse,
      opa_builtin0: refuse,
      opa_builtin1: refuse,
      opa_builtin2: refuse,
      opa_builtin3: refuse,
      opa_builtin4: refuse,
    },
  });
  const ex = instance.exports as Record<string, unknown>;
  const dump = (addr: number): unknown => {
    const raw = (ex.opa_json_dump as (a: number) => number)(addr);
    const bytes = new Uint8Array(memory.buffer);
    let end = raw;
    while (bytes[end] !== 0) end++;
    return JSON.parse(Buffer.from(bytes.subarray(raw, end)).toString('utf8'));
  };
  const builtins = dump((ex.builtins as () => number)()) as Record<string, number>;
  const entrypoints = dump((ex.entrypoints as () => number)()) as Record<string, number>;
  return {
    hostBuiltins: Object.keys(builtins).sort(),
    entrypoints,
    abiVersion: globalValue(ex.opa_wasm_abi_version),
    abiMinorVersion: globalValue(ex.opa_wasm_abi_minor_version),
  };
}
