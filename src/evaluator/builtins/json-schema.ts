/**
 * json.verify_schema and json.match_schema: a JSON Schema validator (drafts 4,
 * 6 and 7 keywords) whose error objects match what OPA reports
 * ({error, desc, field, type}, gojsonschema's wording and type names), so
 * policies that inspect the errors behave the same. `$ref` resolves inside
 * the schema only (`#`, `#/definitions/...`, `#/$defs/...`): no network or
 * file references, by design.
 */
import { toJsRegExp as regexpFromRe2 } from './regex.js';

export class SchemaError extends Error {}

type Json = unknown;
type Obj = Record<string, Json>;

const PRIMITIVES = ['array', 'boolean', 'integer', 'number', 'null', 'object', 'string'];

export interface SchemaIssue {
  error: string;
  desc: string;
  field: string;
  type: string;
}

function isObj(x: unknown): x is Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function load(x: unknown, what: string): Json {
  if (typeof x === 'string') {
    try {
      return JSON.parse(x) as Json;
    } catch {
      throw new SchemaError('invalid JSON string');
    }
  }
  if (isObj(x) || Array.isArray(x)) return x;
  throw new SchemaError(`wrong type, expected string or object (${what})`);
}

/** Checks the parts of a schema that would make validation meaningless; throws SchemaError. */
function checkSchema(s: Json, seen = new Set<unknown>()): void {
  if (typeof s === 'boolean') return;
  if (!isObj(s)) throw new SchemaError('schema must be an object or a boolean');
  if (seen.has(s)) return;
  seen.add(s);
  if ('type' in s) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const given = new Set<string>();
    for (const t of types) {
      if (typeof t !== 'string' || !PRIMITIVES.includes(t)) {
        throw new SchemaError(`has a primitive type that is NOT VALID -- given: /${String(t)}/ Expected valid values are:[${PRIMITIVES.join(' ')}]`);
      }
      if (given.has(t)) throw new SchemaError(`${t} type is duplicated`);
      given.add(t);
    }
  }
  for (const k of ['minimum', 'maximum', 'multipleOf', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']) {
    if (k in s && typeof s[k] !== 'number') throw new SchemaError(`${k} must be of type number`);
  }
  if ('multipleOf' in s && (s.multipleOf as number) <= 0) throw new SchemaError('multipleOf must be strictly greater than 0');
  if ('pattern' in s) {
    if (typeof s.pattern !== 'string') throw new SchemaError('pattern must be of type string');
    try {
      regexpFromRe2(s.pattern);
    } catch {
      throw new SchemaError('pattern must be a valid regex');
    }
  }
  if ('required' in s && !Array.isArray(s.required)) throw new SchemaError('required must be of type array');
  if ('enum' in s && !Array.isArray(s.enum)) throw new SchemaError('enum must be of type array');
  for (const k of ['properties', 'patternProperties', 'definitions', '$defs']) {
    if (k in s) {
      if (!isObj(s[k])) throw new SchemaError(`${k} must be of type object`);
      for (const sub of Object.values(s[k] as Obj)) checkSchema(sub, seen);
    }
  }
  for (const k of ['additionalProperties', 'additionalItems', 'not', 'contains', 'propertyNames', 'if', 'then', 'else']) {
    if (k in s && typeof s[k] !== 'boolean') checkSchema(s[k], seen);
  }
  if ('items' in s) {
    if (Array.isArray(s.items)) for (const sub of s.items) checkSchema(sub, seen);
    else checkSchema(s.items, seen);
  }
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    if (k in s) {
      if (!Array.isArray(s[k]) || (s[k] as unknown[]).length === 0) throw new SchemaError(`${k} must be of type array`);
      for (const sub of s[k] as unknown[]) checkSchema(sub, seen);
    }
  }
}

function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function equal(a: Json, b: Json): boolean {
  return canonical(a) === canonical(b);
}

function fmt(n: unknown): string {
  return typeof n === 'number' ? String(n) : JSON.stringify(n);
}

class Validator {
  readonly issues: SchemaIssue[] = [];
  private readonly patterns = new Map<string, RegExp>();

  constructor(private readonly root: Json) {}

  private add(path: string[], type: string, desc: string): void {
    const field = path.length === 0 ? '(root)' : path.join('.');
    this.issues.push({ error: `${field}: ${desc}`, desc, field, type });
  }

  private regex(p: string): RegExp {
    let r = this.patterns.get(p);
    if (!r) this.patterns.set(p, (r = regexpFromRe2(p)));
    return r;
  }

  private resolve(ref: string): Json {
    if (!ref.startsWith('#')) throw new SchemaError(`Reference ${ref} cannot be resolved: only references inside the schema are supported`);
    let node: Json = this.root;
    for (const raw of ref.slice(1).split('/').filter((p) => p !== '')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (isObj(node) && key in node) node = node[key];
      else if (Array.isArray(node) && /^\d+$/.test(key)) node = node[Number(key)];
      else throw new SchemaError(`Reference ${ref} cannot be resolved`);
    }
    return node;
  }

  /** Validates v against s, recording issues; returns whether it matched. */
  validate(s: Json, v: Json, path: string[], depth = 0): boolean {
    if (depth > 200) throw new SchemaError('schema recursion too deep');
    const before = this.issues.length;
    if (s === true || s === undefined) return true;
    if (s === false) {
      this.add(path, 'false', 'False always fails validation');
      return false;
    }
    if (!isObj(s)) return true;
    if (typeof s.$ref === 'string') return this.validate(this.resolve(s.$ref), v, path, depth + 1);
    const t = jsonType(v);
    if ('type' in s) {
      const types = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
      const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
      if (!ok) {
        this.add(path, 'invalid_type', `Invalid type. Expected: ${types.join('/')}, given: ${t}`);
        return false;
      }
    }
    if ('const' in s && !equal(s.const, v)) this.add(path, 'const', `${path.length === 0 ? '(root)' : path.join('.')} does not match: ${canonical(s.const)}`);
    if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, v))) {
      this.add(path, 'enum', `${path.length === 0 ? '(root)' : path.join('.')} must be one of the following: ${s.enum.map(canonical).join(', ')}`);
    }
    if (Array.isArray(s.allOf)) {
      let all = true;
      for (const sub of s.allOf) all = this.validate(sub, v, path, depth + 1) && all;
      if (!all) this.add(path, 'number_all_of', 'Must validate all the schemas (allOf)');
    }
    if (Array.isArray(s.anyOf)) {
      if (!s.anyOf.some((sub) => this.quiet(sub, v, path, depth))) this.add(path, 'number_any_of', 'Must validate at least one schema (anyOf)');
    }
    if (Array.isArray(s.oneOf)) {
      if (s.oneOf.filter((sub) => this.quiet(sub, v, path, depth)).length !== 1) this.add(path, 'number_one_of', 'Must validate one and only one schema (oneOf)');
    }
    if ('not' in s && this.quiet(s.not, v, path, depth)) this.add(path, 'number_not', 'Must not validate the schema (not)');
    if ('if' in s) {
      if (this.quiet(s.if, v, path, depth)) {
        if ('then' in s && !this.validate(s.then, v, path, depth + 1)) this.add(path, 'condition_then', 'Must validate "then" as "if" was valid');
      } else if ('else' in s && !this.validate(s.else, v, path, depth + 1)) {
        this.add(path, 'condition_else', 'Must validate "else" as "if" was not valid');
      }
    }
    if (typeof v === 'number') this.number(s, v, path);
    if (typeof v === 'string') this.string(s, v, path);
    if (Array.isArray(v)) this.array(s, v, path, depth);
    if (isObj(v)) this.object(s, v, path, depth);
    return this.issues.length === before;
  }

  /** Whether v matches s, without recording issues. */
  private quiet(s: Json, v: Json, path: string[], depth: number): boolean {
    const mark = this.issues.length;
    const ok = this.validate(s, v, path, depth + 1);
    this.issues.length = mark;
    return ok;
  }

  private number(s: Obj, v: number, path: string[]): void {
    if (typeof s.multipleOf === 'number') {
      const q = v / s.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-9) this.add(path, 'multiple_of', `Must be a multiple of ${fmt(s.multipleOf)}`);
    }
    const exMin = s.exclusiveMinimum;
    const exMax = s.exclusiveMaximum;
    if (typeof s.minimum === 'number') {
      if (exMin === true ? v <= s.minimum : v < s.minimum) {
        this.add(path, exMin === true ? 'number_gt' : 'number_gte', exMin === true ? `Must be greater than ${fmt(s.minimum)}` : `Must be greater than or equal to ${fmt(s.minimum)}`);
      }
    }
    if (typeof exMin === 'number' && v <= exMin) this.add(path, 'number_gt', `Must be greater than ${fmt(exMin)}`);
    if (typeof s.maximum === 'number') {
      if (exMax === true ? v >= s.maximum : v > s.maximum) {
        this.add(path, exMax === true ? 'number_lt' : 'number_lte', exMax === true ? `Must be less than ${fmt(s.maximum)}` : `Must be less than or equal to ${fmt(s.maximum)}`);
      }
    }
    if (typeof exMax === 'number' && v >= exMax) this.add(path, 'number_lt', `Must be less than ${fmt(exMax)}`);
  }

  private string(s: Obj, v: string, path: string[]): void {
    const len = [...v].length;
    if (typeof s.minLength === 'number' && len < s.minLength) this.add(path, 'string_gte', `String length must be greater than or equal to ${s.minLength}`);
    if (typeof s.maxLength === 'number' && len > s.maxLength) this.add(path, 'string_lte', `String length must be less than or equal to ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !this.regex(s.pattern).test(v)) this.add(path, 'pattern', `Does not match pattern '${s.pattern}'`);
    if (typeof s.format === 'string' && !checkFormat(s.format, v)) this.add(path, 'format', `Does not match format '${s.format}'`);
  }

  private array(s: Obj, v: Json[], path: string[], depth: number): void {
    if (typeof s.minItems === 'number' && v.length < s.minItems) this.add(path, 'array_min_items', `Array must have at least ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) this.add(path, 'array_max_items', `Array must have at most ${s.maxItems} items`);
    if (s.uniqueItems === true) {
      const seen = new Map<string, number>();
      v.forEach((x, j) => {
        const key = canonical(x);
        const i = seen.get(key);
        if (i !== undefined) this.add(path, 'unique', `array items[${i},${j}] must be unique`);
        seen.set(key, j);
      });
    }
    if (Array.isArray(s.items)) {
      s.items.forEach((sub, i) => {
        if (i < v.length) this.validate(sub, v[i], [...path, String(i)], depth + 1);
      });
      if (v.length > s.items.length) {
        if (s.additionalItems === false) this.add(path, 'array_no_additional_items', 'No additional items allowed on array');
        else if (isObj(s.additionalItems)) for (let i = s.items.length; i < v.length; i++) this.validate(s.additionalItems, v[i], [...path, String(i)], depth + 1);
      }
    } else if ('items' in s) {
      v.forEach((x, i) => this.validate(s.items, x, [...path, String(i)], depth + 1));
    }
    if ('contains' in s && !v.some((x) => this.quiet(s.contains, x, path, depth))) this.add(path, 'contains', 'At least one of the items must match');
  }

  private object(s: Obj, v: Obj, path: string[], depth: number): void {
    const keys = Object.keys(v);
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) this.add(path, 'array_min_properties', `Must have at least ${s.minProperties} properties`);
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) this.add(path, 'array_max_properties', `Must have at most ${s.maxProperties} properties`);
    if (Array.isArray(s.required)) {
      for (const r of s.required) if (typeof r === 'string' && !(r in v)) this.add(path, 'required', `${r} is required`);
    }
    const props = isObj(s.properties) ? s.properties : {};
    const patterns = isObj(s.patternProperties) ? s.patternProperties : {};
    for (const k of keys) {
      let matched = false;
      if (k in props) {
        matched = true;
        this.validate(props[k], v[k], [...path, k], depth + 1);
      }
      for (const [p, sub] of Object.entries(patterns)) {
        if (this.regex(p).test(k)) {
          matched = true;
          this.validate(sub, v[k], [...path, k], depth + 1);
        }
      }
      if (!matched && 'additionalProperties' in s) {
        if (s.additionalProperties === false) this.add(path, 'additional_property_not_allowed', `Additional property ${k} is not allowed`);
        else this.validate(s.additionalProperties, v[k], [...path, k], depth + 1);
      }
      if ('propertyNames' in s && !this.quiet(s.propertyNames, k, path, depth)) this.add(path, 'invalid_property_name', `Property name of "${k}" does not match`);
    }
    if (isObj(s.dependencies)) {
      for (const [k, dep] of Object.entries(s.dependencies)) {
        if (!(k in v)) continue;
        if (Array.isArray(dep)) {
          for (const d of dep) if (typeof d === 'string' && !(d in v)) this.add(path, 'missing_dependency', `Has a dependency on ${d}`);
        } else this.validate(dep, v, path, depth + 1);
      }
    }
  }
}

const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  time: /^\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/,
  email: /^[^\s@]+@[^\s@]+$/,
  ipv4: /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
  uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  hostname: /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/,
};

function checkFormat(format: string, v: string): boolean {
  if (format === 'ipv6') return v.includes(':') && /^[0-9a-fA-F:.]+$/.test(v);
  if (format === 'uri') return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(v);
  if (format === 'regex') {
    try {
      regexpFromRe2(v);
      return true;
    } catch {
      return false;
    }
  }
  const re = FORMATS[format];
  return re ? re.test(v) : true; // unknown formats are annotations, as in the spec
}

export function jsonVerifySchema(schema: unknown): [boolean, string | null] {
  try {
    checkSchema(load(schema, 'schema'));
    return [true, null];
  } catch (e) {
    return [false, `jsonschema: ${e instanceof Error ? e.message : String(e)}`];
  }
}

/** [valid, issues]; throws (undefined) when the document or schema cannot be used. */
export function jsonMatchSchema(document: unknown, schema: unknown): [boolean, SchemaIssue[]] {
  const doc = load(document, 'document');
  const s = load(schema, 'schema');
  checkSchema(s);
  const v = new Validator(s);
  v.validate(s, doc, []);
  return [v.issues.length === 0, v.issues];
}
