/**
 * ajv's validation errors as OPA's json.match_schema reports them: gojsonschema's
 * error objects ({error, desc, field, type}) with its type names and wording.
 * Beyond the wording, this follows gojsonschema where the two validators report
 * differently: a type mismatch stops the checks of that schema on that value;
 * a failed anyOf/oneOf reports itself, then the errors of its closest branch
 * only (fewest errors); allOf reports its branches' errors, then itself.
 * Known difference: with several errors, their order can differ from OPA's.
 */
import type { ErrorObject } from 'ajv';

/** One error object of json.match_schema. */
export interface SchemaIssue {
  error: string;
  desc: string;
  field: string;
  type: string;
}

const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Go's JSON text of a value (object keys sorted), as gojsonschema prints enum and const values. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function field(instancePath: string): string {
  if (instancePath === '') return '(Root)';
  return instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const COMPARISON: Record<string, [string, string]> = {
  '<=': ['number_lte', 'Must be less than or equal to'],
  '<': ['number_lt', 'Must be less than'],
  '>=': ['number_gte', 'Must be greater than or equal to'],
  '>': ['number_gt', 'Must be greater than'],
};

/** gojsonschema's [type, desc] for one ajv error; undefined for errors gojsonschema does not report. */
function describe(e: ErrorObject, f: string): [string, string] | undefined {
  const p = e.params as Record<string, unknown>;
  const parent = isObj(e.parentSchema) ? e.parentSchema : {};
  switch (e.keyword) {
    case 'type': {
      const types = Array.isArray(parent.type) ? (parent.type as string[]) : [String(parent.type)];
      const expected = types.length > 1 ? `[${types.join(',')}]` : types[0];
      return ['invalid_type', `Invalid type. Expected: ${expected}, given: ${jsonType(e.data)}`];
    }
    case 'required':
      return ['required', `${String(p.missingProperty)} is required`];
    case 'enum':
      return ['enum', `${f} must be one of the following: ${(p.allowedValues as unknown[]).map(canonical).join(', ')}`];
    case 'const':
      return ['const', `${f} does not match: ${canonical(p.allowedValue)}`];
    case 'maximum':
    case 'minimum':
    case 'exclusiveMaximum':
    case 'exclusiveMinimum': {
      const [type, text] = COMPARISON[String(p.comparison)];
      return [type, `${text} ${String(p.limit)}`];
    }
    case 'multipleOf':
      return ['multiple_of', `Must be a multiple of ${String(p.multipleOf)}`];
    case 'minLength':
      return ['string_gte', `String length must be greater than or equal to ${String(p.limit)}`];
    case 'maxLength':
      return ['string_lte', `String length must be less than or equal to ${String(p.limit)}`];
    case 'pattern':
      return ['pattern', `Does not match pattern '${String(p.pattern)}'`];
    case 'format':
      return ['format', `Does not match format '${String(p.format)}'`];
    case 'minItems':
      return ['array_min_items', `Array must have at least ${String(p.limit)} items`];
    case 'maxItems':
      return ['array_max_items', `Array must have at most ${String(p.limit)} items`];
    case 'uniqueItems':
      return ['unique', `array items[${Math.min(Number(p.i), Number(p.j))},${Math.max(Number(p.i), Number(p.j))}] must be unique`];
    case 'contains':
      return ['contains', 'At least one of the items must match'];
    case 'additionalItems':
      return ['array_no_additional_items', 'No additional items allowed on array'];
    case 'minProperties':
      return ['array_min_properties', `Must have at least ${String(p.limit)} properties`];
    case 'maxProperties':
      return ['array_max_properties', `Must have at most ${String(p.limit)} properties`];
    case 'additionalProperties':
      return ['additional_property_not_allowed', `Additional property ${String(p.additionalProperty)} is not allowed`];
    case 'propertyNames':
      return ['invalid_property_name', `Property name of "${String(p.propertyName)}" does not match`];
    case 'dependencies':
      return ['missing_dependency', `Has a dependency on ${String(p.missingProperty)}`];
    case 'anyOf':
      return ['number_any_of', 'Must validate at least one schema (anyOf)'];
    case 'oneOf':
      return ['number_one_of', 'Must validate one and only one schema (oneOf)'];
    case 'allOf':
      return ['number_all_of', 'Must validate all the schemas (allOf)'];
    case 'not':
      return ['number_not', 'Must not validate the schema (not)'];
    case 'if':
      return p.failingKeyword === 'then' ? ['condition_then', 'Must validate "then" as "if" was valid'] : ['condition_else', 'Must validate "else" as "if" was not valid'];
    case 'false schema':
      return ['false', 'False always fails validation'];
    default:
      return undefined;
  }
}

/** Keywords whose own error gojsonschema reports before the errors it keeps from their subschemas. */
const OWNERS = ['anyOf', 'oneOf', 'if', 'propertyNames', 'contains'];

const inside = (e: ErrorObject, prefix: string) => e.schemaPath.startsWith(`${prefix}/`);

/** Applies gojsonschema's type early return, closest-branch and allOf rules to ajv's flat error list. */
function reshape(errors: ErrorObject[]): ErrorObject[] {
  let list = [...errors];
  // A type mismatch ends that schema's checks on that value.
  for (const t of errors.filter((e) => e.keyword === 'type')) {
    const base = t.schemaPath.slice(0, -'/type'.length);
    list = list.filter((e) => e === t || !(within(e.instancePath, t.instancePath) && inside(e, base)));
  }
  // Combinators: the combinator's own error first, then the errors gojsonschema keeps of its branches.
  const out: ErrorObject[] = [];
  const placed = new Set<ErrorObject>();
  for (const e of list) {
    if (placed.has(e)) continue;
    const owner = list.find((c) => !placed.has(c) && OWNERS.includes(c.keyword) && c !== e && inside(e, c.schemaPath.replace(/\/if$/, '')));
    if (!owner) {
      out.push(e);
      placed.add(e);
      continue;
    }
    const members = list.filter((m) => m !== owner && inside(m, owner.schemaPath.replace(/\/if$/, '')));
    let kept = members;
    if (owner.keyword === 'anyOf' || owner.keyword === 'oneOf' || owner.keyword === 'contains') {
      // contains: gojsonschema keeps the errors of the closest item, as anyOf those of the closest branch.
      const byBranch = new Map<string, ErrorObject[]>();
      for (const m of members) {
        const branch = owner.keyword === 'contains' ? m.instancePath.slice(owner.instancePath.length).split('/')[1] : m.schemaPath.slice(owner.schemaPath.length + 1).split('/')[0];
        byBranch.set(branch, [...(byBranch.get(branch) ?? []), m]);
      }
      const passing = (owner.params as { passingSchemas?: unknown }).passingSchemas;
      // gojsonschema's closest branch scores highest: one failing its type scores lowest, then fewer errors win.
      const cost = (b: ErrorObject[]) => (b.some((m) => m.keyword === 'type' && m.instancePath === owner.instancePath) ? 1e6 : 0) + b.length;
      kept = passing != null ? [] : ([...byBranch.values()].sort((a, b) => cost(a) - cost(b))[0] ?? []);
    } else if (owner.keyword === 'if') {
      kept = members.filter((m) => inside(m, owner.schemaPath.replace(/\/if$/, `/${String((owner.params as { failingKeyword: string }).failingKeyword)}`)));
    }
    out.push(owner, ...kept);
    for (const m of [owner, ...members]) placed.add(m);
  }
  // allOf (ajv reports no error of its own): after the branches' errors, gojsonschema adds one.
  const result: ErrorObject[] = [];
  out.forEach((e, i) => {
    result.push(e);
    const m = /^(.*\/allOf)\/\d+\//.exec(e.schemaPath);
    if (!m) return;
    const base = m[1];
    const instancePath = e.instancePath.split('/').slice(0, 1 + instanceDepth(base)).join('/');
    const mine = (n: ErrorObject) => inside(n, base) && within(n.instancePath, instancePath);
    if (out.slice(i + 1).some(mine)) return;
    result.push({ ...e, keyword: 'allOf', schemaPath: base, instancePath, params: {} });
  });
  return result;
}

const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

/** How many levels into the instance a schema path has descended (properties, items and the like). */
function instanceDepth(schemaPath: string): number {
  const segs = schemaPath.split('/').slice(1);
  let depth = 0;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s === 'properties' || s === 'patternProperties') {
      depth++;
      i++;
    } else if (s === 'items') {
      depth++;
      if (/^\d+$/.test(segs[i + 1] ?? '')) i++;
    } else if (s === 'additionalProperties' || s === 'additionalItems' || s === 'contains') depth++;
    else if (['definitions', '$defs', 'dependencies', 'allOf', 'anyOf', 'oneOf'].includes(s)) i++;
  }
  return depth;
}

/** The order in which gojsonschema checks the keywords of one schema on one value. */
const CHECK_ORDER = [
  'anyOf', 'oneOf', 'allOf', 'not', 'dependencies', 'if',
  'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'additionalItems', 'minItems', 'maxItems', 'uniqueItems', 'contains',
  'minProperties', 'maxProperties', 'required', 'additionalProperties', 'propertyNames',
  'const', 'enum', 'format', 'minLength', 'maxLength', 'pattern',
];

const parentOf = (e: ErrorObject) => e.schemaPath.slice(0, e.schemaPath.lastIndexOf('/'));

/** Within each run of errors from one schema on one value, gojsonschema's keyword order. */
function inCheckOrder(errors: ErrorObject[]): ErrorObject[] {
  const out: ErrorObject[] = [];
  let run: ErrorObject[] = [];
  const rank = (e: ErrorObject) => CHECK_ORDER.indexOf(e.keyword);
  const flush = () => {
    out.push(...run.sort((a, b) => rank(a) - rank(b)));
    run = [];
  };
  for (const e of errors) {
    const prev = run[run.length - 1];
    if (prev && (parentOf(prev) !== parentOf(e) || prev.instancePath !== e.instancePath || rank(e) < 0 || rank(prev) < 0)) flush();
    run.push(e);
  }
  flush();
  return out;
}

/** gojsonschema checks positional items before additionalItems; ajv reports the other way round. */
function itemsFirst(errors: ErrorObject[]): ErrorObject[] {
  const out = [...errors];
  for (const e of errors.filter((x) => x.keyword === 'additionalItems')) {
    const from = out.indexOf(e);
    const items = `${parentOf(e)}/items/`;
    let to = from;
    out.forEach((x, i) => {
      if (x.schemaPath.startsWith(items) && i > to) to = i;
    });
    out.splice(from, 1);
    out.splice(to, 0, e);
  }
  return out;
}

/** Maps ajv's errors (ajv run with allErrors and verbose) to OPA's error objects. */
export function toSchemaIssues(errors: ErrorObject[]): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  for (const e of itemsFirst(reshape(inCheckOrder(errors)))) {
    const f = field(e.instancePath);
    const d = describe(e, f);
    if (d) issues.push({ error: `${f}: ${d[1]}`, desc: d[1], field: f, type: d[0] });
  }
  return issues;
}
