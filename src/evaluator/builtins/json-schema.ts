/**
 * json.verify_schema and json.match_schema on ajv (drafts 4, 6 and 7; draft 4
 * through ajv-draft-04), with ajv's errors mapped onto the error objects OPA
 * reports ({error, desc, field, type}, gojsonschema's wording and type names;
 * see json-schema-errors.ts). Schema `pattern`s, `patternProperties` and the
 * `regex` format compile on the RE2 engine (re2.ts): Rego's regex syntax, and
 * linear-time matching whatever pattern a policy or its input supplies.
 * `$ref` resolves inside the schema only: no network or file references, by design.
 */
import { createRequire } from 'node:module';
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import AjvDraft04Module from 'ajv-draft-04';
import { compileRe2 } from './re2.js';
import { canonical, toSchemaIssues, type SchemaIssue } from './json-schema-errors.js';

export type { SchemaIssue } from './json-schema-errors.js';

/** A schema or document the builtin cannot use; its message is OPA's (gojsonschema's) where they coincide. */
export class SchemaError extends Error {}

type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** ajv's RegExp engine option: every schema pattern is RE2 (a syntax error surfaces at compile). */
const re2Engine: RegExpEngine = Object.assign((pattern: string) => compileRe2(pattern), { code: 'compileRe2' });

/** Formats gojsonschema checks; anything else is an annotation, as the spec says. All linear-time. */
const FORMATS: Record<string, (s: string) => boolean> = {
  'date-time': (s) => compileRe2('^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})$').test(s),
  date: (s) => compileRe2('^\\d{4}-\\d{2}-\\d{2}$').test(s),
  time: (s) => compileRe2('^\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?([Zz]|[+-]\\d{2}:\\d{2})?$').test(s),
  email: (s) => compileRe2('^[^\\s@]+@[^\\s@]+$').test(s),
  ipv4: (s) => isIPv4(s),
  ipv6: (s) => isIPv6(s),
  uuid: (s) => compileRe2('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$').test(s),
  hostname: (s) => s.length <= 253 && compileRe2('^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$').test(s),
  uri: (s) => compileRe2('^[a-zA-Z][a-zA-Z0-9+.-]*:').test(s),
  regex: (s) => {
    try {
      compileRe2(s);
      return true;
    } catch {
      return false;
    }
  },
};

const OPTIONS: Options = {
  allErrors: true, // gojsonschema reports every error, not the first
  strict: false, // unknown keywords and formats are annotations, as in gojsonschema
  verbose: true, // the mapping reads the failing value and its schema
  logger: false,
  addUsedSchema: false, // `$id`s from one call must not collide with the next
  validateFormats: true,
  formats: FORMATS,
  code: { regExp: re2Engine },
};

/**
 * uniqueItems in linear time: ajv compares items pairwise (quadratic: 5,000 objects took
 * 3.4 s, 20,000 took a minute), so items are keyed by their canonical JSON text instead, as
 * gojsonschema does, reporting every duplicate with the previous index of its value.
 */
function linearUniqueItems(ajv: Ajv): void {
  ajv.removeKeyword('uniqueItems');
  const validate = Object.assign(
    (unique: boolean, items: unknown[]): boolean => {
      validate.errors = [];
      if (!unique) return true;
      const seen = new Map<string, number>();
      items.forEach((item, j) => {
        const key = canonical(item);
        const i = seen.get(key);
        if (i !== undefined) validate.errors.push({ keyword: 'uniqueItems', message: 'must NOT have duplicate items', params: { i, j } });
        seen.set(key, j);
      });
      return validate.errors.length === 0;
    },
    { errors: [] as Array<Partial<ErrorObject>> },
  );
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate });
}

const draft7 = new Ajv(OPTIONS);
linearUniqueItems(draft7);
// Draft 6's meta-schema ships with ajv; draft 7 validates draft 6 keywords the same way.
draft7.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-06.json') as object);
const draft4 = new AjvDraft04Module.default(OPTIONS);
linearUniqueItems(draft4 as unknown as Ajv);

/** Which ajv runs a schema: draft 4 when it says so, or when it uses draft 4's boolean exclusiveMinimum/Maximum. */
function engineFor(schema: unknown): { ajv: Ajv; draft: 4 | 7 } {
  const declared = isObj(schema) && typeof schema.$schema === 'string' ? schema.$schema : '';
  if (declared.includes('draft-04')) return { ajv: draft4 as unknown as Ajv, draft: 4 };
  if (declared === '' && usesDraft4Bounds(schema, 0)) return { ajv: draft4 as unknown as Ajv, draft: 4 };
  return { ajv: draft7, draft: 7 };
}

function usesDraft4Bounds(s: unknown, depth: number): boolean {
  if (depth > 64 || s === null || typeof s !== 'object') return false;
  if (isObj(s) && (typeof s.exclusiveMinimum === 'boolean' || typeof s.exclusiveMaximum === 'boolean')) return true;
  return Object.values(s).some((v) => usesDraft4Bounds(v, depth + 1));
}

function load(x: unknown): unknown {
  if (typeof x === 'string') {
    try {
      return JSON.parse(x) as unknown;
    } catch {
      throw new SchemaError('invalid JSON string');
    }
  }
  if (isObj(x) || Array.isArray(x)) return x;
  throw new SchemaError('wrong type, expected string or object');
}

const PRIMITIVES = ['array', 'boolean', 'integer', 'number', 'null', 'object', 'string'];

function at(root: unknown, pointer: string): unknown {
  let node = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    node = (isObj(node) || Array.isArray(node)) && Object.hasOwn(node, key) ? (node as Obj)[key] : undefined;
  }
  return node;
}

/** gojsonschema's wording for a meta-schema violation, where toolgate knows it. */
function describeSchemaError(schema: unknown, errors: ErrorObject[]): string {
  const typeError = errors.find((e) => /\/type(\/\d+)?$/.test(e.instancePath) || e.instancePath === '/type');
  if (typeError) {
    const path = typeError.instancePath.replace(/\/\d+$/, '');
    const given = at(schema, path);
    const list = Array.isArray(given) ? given : [given];
    const bad = list.find((t) => typeof t !== 'string' || !PRIMITIVES.includes(t));
    if (bad !== undefined) return `has a primitive type that is NOT VALID -- given: /${String(bad)}/ Expected valid values are:[${PRIMITIVES.join(' ')}]`;
    const dup = list.find((t, i) => list.indexOf(t) !== i);
    if (dup !== undefined) return `${String(dup)} type is duplicated`;
  }
  const e = errors[0];
  const key = e.instancePath.split('/').pop() || '(root)';
  if (e.keyword === 'format' && e.params.format === 'regex') return `${key} must be a valid regex`;
  if (e.keyword === 'type') {
    const type = String(e.params.type).split(',')[0];
    if (['properties', 'patternProperties', 'dependencies', 'definitions'].includes(key)) return `${key} must be of type ${type}`;
    return `${key} must be of ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
  }
  if (e.keyword === 'minimum' && e.params.comparison === '>=') return `${key} must be greater than or equal to ${String(e.params.limit)}`;
  return `${key} ${e.message ?? 'is invalid'}`;
}

/** gojsonschema's wording for a `#/…` reference that does not resolve: the first key missing. */
function missingRef(schema: unknown, ref: string): string | undefined {
  const hash = ref.indexOf('#');
  if (hash < 0) return undefined;
  let node = schema;
  for (const raw of ref.slice(hash + 1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(node) || !Object.hasOwn(node, key)) return `Object has no key '${key}'`;
    node = node[key];
  }
  return undefined;
}

const CACHE_LIMIT = 256;
const compiled = new Map<string, ValidateFunction>();

/** Checks and compiles a schema (bounded cache keyed by its JSON text); throws SchemaError. */
function compile(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit;
  if (typeof schema !== 'boolean' && !isObj(schema)) throw new SchemaError('schema must be an object or a boolean');
  const { ajv } = engineFor(schema);
  if (!ajv.validateSchema(schema as object)) throw new SchemaError(describeSchemaError(schema, ajv.errors ?? []));
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema as object);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && 'missingRef' in e) throw new SchemaError(missingRef(schema, String(e.missingRef)) ?? msg);
    throw new SchemaError(/regexp|regex/i.test(msg) ? 'pattern must be a valid regex' : msg);
  } finally {
    // ajv keys its own cache by object identity: every call brings a new object, so drop it.
    ajv.removeSchema(schema as object);
  }
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(key, fn);
  return fn;
}

/** json.verify_schema: [true, null] for a usable schema, else [false, "jsonschema: <why>"]. */
export function jsonVerifySchema(schema: unknown): [boolean, string | null] {
  try {
    compile(load(schema));
    return [true, null];
  } catch (e) {
    return [false, `jsonschema: ${e instanceof Error ? e.message : String(e)}`];
  }
}

/** json.match_schema: [valid, issues]; throws (undefined) when the document or schema cannot be used. */
export function jsonMatchSchema(document: unknown, schema: unknown): [boolean, SchemaIssue[]] {
  const doc = load(document);
  const validate = compile(load(schema));
  if (validate(doc)) return [true, []];
  const issues = toSchemaIssues(validate.errors ?? []);
  return [issues.length === 0, issues];
}
