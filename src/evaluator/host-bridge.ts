/**
 * How toolgate's host builtins exchange values with the wasm module.
 *
 * The npm SDK passes builtin arguments and results as JSON, which has no sets:
 * a set argument arrives as an array and a set result cannot be returned. That
 * changes meaning for builtins where sets and arrays differ (object.subset,
 * net.cidr_contains_matches). So, for the builtins toolgate implements, the
 * SDK's `opa_builtinN` imports are wrapped: arguments are dumped with the
 * module's `opa_value_dump` (Rego syntax, sets included) and results loaded
 * with `opa_value_parse`. Builtins the SDK implements keep the SDK's path.
 *
 * The wrap happens while the SDK instantiates the module synchronously
 * (loadPolicySync): the import object is captured from the one
 * `new WebAssembly.Instance` call that instantiation makes, and
 * `WebAssembly.Instance` is restored before returning, so nothing else can
 * observe the substitution.
 */

/** A Rego set as host builtins see it: an array (so existing code keeps working) that knows it is a set. */
export class RegoSet extends Array<unknown> {
  // map/filter/slice of a set give plain arrays: only values built as sets are sets.
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
}

export function regoSet(xs: Iterable<unknown>): RegoSet {
  const s = new RegoSet();
  for (const x of xs) s.push(x);
  return s;
}

export function isRegoSet(x: unknown): x is RegoSet {
  return x instanceof RegoSet;
}

class RegoTextParser {
  private i = 0;

  constructor(
    private readonly t: string,
    /** Integers beyond 2^53 become BigInt instead of rounded doubles. */
    private readonly exactIntegers = false,
  ) {}

  parse(): unknown {
    const v = this.value();
    this.ws();
    if (this.i !== this.t.length) throw new SyntaxError('trailing characters in Rego value');
    return v;
  }

  private ws(): void {
    while (this.i < this.t.length && /\s/.test(this.t[this.i])) this.i++;
  }

  private value(): unknown {
    this.ws();
    const c = this.t[this.i];
    if (c === '"') return this.string();
    if (c === '[') {
      this.i++;
      const out: unknown[] = [];
      this.ws();
      if (this.t[this.i] === ']') {
        this.i++;
        return out;
      }
      for (;;) {
        out.push(this.value());
        this.ws();
        const d = this.t[this.i++];
        if (d === ']') return out;
        if (d !== ',') throw new SyntaxError('expected , or ] in array');
      }
    }
    if (c === '{') {
      this.i++;
      this.ws();
      if (this.t[this.i] === '}') {
        this.i++;
        return {};
      }
      const first = this.value();
      this.ws();
      if (this.t[this.i] === ':') {
        const obj: Record<string, unknown> = {};
        let key = first;
        for (;;) {
          this.i++; // ':'
          // An own data property even for "__proto__": assigning it would set obj's prototype.
          Object.defineProperty(obj, typeof key === 'string' ? key : JSON.stringify(key), { value: this.value(), writable: true, enumerable: true, configurable: true });
          this.ws();
          const d = this.t[this.i++];
          if (d === '}') return obj;
          if (d !== ',') throw new SyntaxError('expected , or } in object');
          key = this.value();
          this.ws();
          if (this.t[this.i] !== ':') throw new SyntaxError('expected : in object');
        }
      }
      const set = regoSet([first]);
      for (;;) {
        this.ws();
        const d = this.t[this.i++];
        if (d === '}') return set;
        if (d !== ',') throw new SyntaxError('expected , or } in set');
        set.push(this.value());
      }
    }
    if (this.t.startsWith('set()', this.i)) {
      this.i += 5;
      return new RegoSet();
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.t.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(this.t.slice(this.i, this.i + 400));
    if (!m) throw new SyntaxError(`unexpected character in Rego value at ${this.i}`);
    this.i += m[0].length;
    const n = Number(m[0]);
    if (this.exactIntegers && !m[1] && !m[2] && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
  }

  private string(): string {
    const start = this.i;
    this.i++;
    while (this.i < this.t.length) {
      const c = this.t[this.i];
      if (c === '\\') this.i += 2;
      else if (c === '"') {
        this.i++;
        return JSON.parse(this.t.slice(start, this.i)) as string;
      } else this.i++;
    }
    throw new SyntaxError('unterminated string in Rego value');
  }
}

/**
 * Parses a value printed by `opa_value_dump`: JSON, plus sets (`{1, 2}`,
 * `set()`) and non-string object keys. With `exactIntegers`, integers beyond
 * 2^53 come back as BigInt.
 */
function parseRegoText(text: string, exactIntegers = false): unknown {
  if (exactIntegers && /\d{16}/.test(text)) return new RegoTextParser(text, true).parse();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return new RegoTextParser(text).parse();
  }
}

/**
 * What JSON.stringify cannot print in a host result: a set (which needs the
 * Rego value parser), else an exact (BigInt) integer; undefined for plain JSON.
 */
function unprintable(v: unknown): 'set' | 'bigint' | undefined {
  if (v instanceof RegoSet) return 'set';
  if (typeof v === 'bigint') return 'bigint';
  if (v === null || typeof v !== 'object') return undefined;
  let found: 'bigint' | undefined;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const u = unprintable(x);
    if (u === 'set') return 'set';
    found ??= u;
  }
  return found;
}

/**
 * Rego text for a host result: JSON.stringify's text (undefined fields left
 * out, undefined elements null), with sets as `{…}` / `set()` and BigInts as
 * their exact digits. Without sets it is JSON, so nanosecond times and byte
 * counts beyond 2^53 reach the policy exact.
 */
function toRegoText(v: unknown): string {
  if (v instanceof RegoSet) return v.length === 0 ? 'set()' : `{${v.map(toRegoText).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : toRegoText(x))).join(',')}]`;
  if (typeof v === 'bigint') return v.toString();
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${toRegoText(x)}`).join(',')}}`;
  }
  const s = JSON.stringify(v);
  if (s === undefined) throw new TypeError('host builtin returned a value with no Rego form');
  return s;
}

interface Exports {
  opa_value_dump(addr: number): number;
  opa_value_parse(addr: number, len: number): number;
  opa_json_parse(addr: number, len: number): number;
  opa_json_dump(addr: number): number;
  opa_malloc(len: number): number;
  builtins(): number;
}

type HostImpl = (...args: unknown[]) => unknown;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function readCString(memory: WebAssembly.Memory, addr: number): string {
  const bytes = new Uint8Array(memory.buffer);
  let end = addr;
  while (bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(addr, end));
}

function loadText(exports: Exports, memory: WebAssembly.Memory, bytes: Uint8Array, parse: 'json' | 'value'): number {
  const addr = exports.opa_malloc(bytes.byteLength);
  new Uint8Array(memory.buffer).set(bytes, addr);
  const parsed = parse === 'json' ? exports.opa_json_parse(addr, bytes.byteLength) : exports.opa_value_parse(addr, bytes.byteLength);
  if (parsed === 0) throw new Error('host builtin result could not be loaded into the policy');
  return parsed;
}

/**
 * Runs `instantiate` (which must call `new WebAssembly.Instance` exactly once,
 * synchronously) with the module's builtin imports rerouted for the named host
 * builtins.
 */
export function withHostBridge<T>(
  host: Readonly<Record<string, HostImpl>>,
  instantiate: () => T,
  exactIntegers: ReadonlySet<string> = new Set(),
): T {
  const Real = WebAssembly.Instance;
  let captured = false;
  function Bridged(module: WebAssembly.Module, imports: Record<string, Record<string, unknown>>): WebAssembly.Instance {
    if (captured) throw new Error('host bridge: unexpected second instantiation');
    captured = true;
    const env = imports.env;
    const memory = env.memory as WebAssembly.Memory;
    const state: { exports?: Exports; names?: Map<number, string> } = {};
    // builtins() maps name -> id; the import calls carry the id.
    const nameOf = (exports: Exports, id: number): string | undefined => {
      if (!state.names) {
        const table = JSON.parse(readCString(memory, exports.opa_json_dump(exports.builtins()))) as Record<string, number>;
        state.names = new Map(Object.entries(table).map(([name, i]) => [i, name]));
      }
      return state.names.get(id);
    };
    for (let n = 0; n <= 4; n++) {
      const key = `opa_builtin${n}`;
      const original = env[key] as (...a: number[]) => number;
      env[key] = (id: number, ctx: number, ...addrs: number[]): number => {
        const exports = state.exports;
        const name = exports ? nameOf(exports, id) : undefined;
        if (exports === undefined || name === undefined || !Object.hasOwn(host, name)) return original(id, ctx, ...addrs);
        const exact = exactIntegers.has(name);
        let args: unknown[];
        try {
          args = addrs.map((a) => parseRegoText(readCString(memory, exports.opa_value_dump(a)), exact));
        } catch {
          // An argument this side cannot read: the builtin fails, so the expression is undefined.
          return 0;
        }
        const result = host[name](...args);
        if (result === undefined) return 0;
        const kind = unprintable(result);
        if (kind === undefined) return loadText(exports, memory, encoder.encode(JSON.stringify(result)), 'json');
        return loadText(exports, memory, encoder.encode(toRegoText(result)), kind === 'set' ? 'value' : 'json');
      };
    }
    const instance = new Real(module, imports);
    state.exports = instance.exports as unknown as Exports;
    return instance;
  }
  (WebAssembly as { Instance: unknown }).Instance = Bridged;
  let result: T;
  try {
    result = instantiate();
  } finally {
    (WebAssembly as { Instance: unknown }).Instance = Real;
  }
  // Fail closed if the SDK ever instantiates some other way: host builtins would then
  // silently lose their set and big-integer handling.
  if (!captured) throw new Error('host bridge: the SDK did not instantiate the module through WebAssembly.Instance');
  return result;
}
