// @types/node 20 does not declare the WebAssembly global (lib.dom does); this
// is the subset toolgate uses, matching the JS API spec.
declare global {
  namespace WebAssembly {
    class Module {
      constructor(bytes: ArrayBufferView | ArrayBuffer);
      static imports(module: Module): { module: string; name: string; kind: string }[];
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number });
      readonly buffer: ArrayBuffer;
      grow(delta: number): number;
    }
    class Global {
      value: unknown;
    }
    interface WebAssemblyInstantiatedSource {
      instance: Instance;
      module: Module;
    }
  }
}
export {};
