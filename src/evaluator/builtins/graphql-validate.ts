/**
 * Schema and query validation for the graphql.* builtins, over the AST of
 * graphql-parse.ts (gqlparser's JSON shape, so AST objects passed in by a
 * policy work the same as parsed strings). Schema rules follow gqlparser's
 * ValidateSchemaDocument (the spec's prelude merged in, extensions of
 * undefined types allowed, no required Query type). Query rules implement the
 * spec's validation section that gqlparser's default rule set covers, except
 * OverlappingFieldsCanBeMerged (documented in the README as not checked).
 */
import { parseSchemaDocument, type Json } from './graphql-parse.js';

export class GraphQLValidationError extends Error {}

function fail(msg: string): never {
  throw new GraphQLValidationError(msg);
}

function arr(x: unknown): Json[] {
  return Array.isArray(x) ? (x as Json[]) : [];
}

function strs(x: unknown): string[] {
  return Array.isArray(x) ? (x as unknown[]).filter((s): s is string => typeof s === 'string') : [];
}

function s(x: unknown): string {
  return typeof x === 'string' ? x : '';
}

interface TypeRef {
  NamedType?: string;
  Elem?: TypeRef;
  NonNull?: boolean;
}

function typeName(t: TypeRef | undefined): string {
  if (!t) return '';
  return t.NamedType ? t.NamedType : typeName(t.Elem);
}

function typeString(t: TypeRef): string {
  const inner = t.NamedType ? t.NamedType : `[${typeString(t.Elem ?? {})}]`;
  return t.NonNull ? `${inner}!` : inner;
}

/** Written from the GraphQL spec (October 2021 + oneOf/defer as gqlparser declares them). */
const PRELUDE_SDL = `
scalar Int
scalar Float
scalar String
scalar Boolean
scalar ID
directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
directive @oneOf on INPUT_OBJECT
directive @defer(if: Boolean = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT
type __Schema {
  description: String
  types: [__Type!]!
  queryType: __Type!
  mutationType: __Type
  subscriptionType: __Type
  directives: [__Directive!]!
}
type __Type {
  kind: __TypeKind!
  name: String
  description: String
  fields(includeDeprecated: Boolean = false): [__Field!]
  interfaces: [__Type!]
  possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean = false): [__InputValue!]
  ofType: __Type
  specifiedByURL: String
  isOneOf: Boolean
}
type __Field {
  name: String!
  description: String
  args(includeDeprecated: Boolean = false): [__InputValue!]!
  type: __Type!
  isDeprecated: Boolean!
  deprecationReason: String
}
type __InputValue {
  name: String!
  description: String
  type: __Type!
  defaultValue: String
  isDeprecated: Boolean!
  deprecationReason: String
}
type __EnumValue {
  name: String!
  description: String
  isDeprecated: Boolean!
  deprecationReason: String
}
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
type __Directive {
  name: String!
  description: String
  isRepeatable: Boolean!
  locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean = false): [__InputValue!]!
}
enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION DIRECTIVE_DEFINITION }
`;

let prelude: Json | undefined;

function preludeDoc(): Json {
  prelude ??= parseSchemaDocument(PRELUDE_SDL);
  return prelude;
}

interface Def {
  kind: string;
  name: string;
  builtIn: boolean;
  directives: Json[];
  interfaces: string[];
  fields: Json[];
  types: string[];
  enumValues: Json[];
}

interface DirectiveDef {
  name: string;
  args: Json[];
  locations: string[];
  repeatable: boolean;
  directives: Json[];
}

export interface Schema {
  types: Map<string, Def>;
  directives: Map<string, DirectiveDef>;
  roots: Partial<Record<'query' | 'mutation' | 'subscription', Def>>;
  possible: Map<string, Set<string>>;
}

function toDef(d: Json, builtIn: boolean): Def {
  return {
    kind: s(d.Kind),
    name: s(d.Name),
    builtIn,
    directives: [...arr(d.Directives)],
    interfaces: [...strs(d.Interfaces)],
    fields: [...arr(d.Fields)],
    types: [...strs(d.Types)],
    enumValues: [...arr(d.EnumValues)],
  };
}

const INPUT_KINDS = new Set(['SCALAR', 'ENUM', 'INPUT_OBJECT']);
const OUTPUT_KINDS = new Set(['SCALAR', 'OBJECT', 'INTERFACE', 'UNION', 'ENUM']);

function checkName(name: string): void {
  if (name.startsWith('__')) fail(`Name "${name}" must not begin with "__", which is reserved by GraphQL introspection.`);
}

/** gqlparser's ValidateSchemaDocument over prelude + the given document. */
export function buildSchema(doc: Json): Schema {
  const schema: Schema = { types: new Map(), directives: new Map(), roots: {}, possible: new Map() };
  const p = preludeDoc();
  const defs: Def[] = [];
  for (const [d, builtIn] of [...arr(p.Definitions).map((d) => [d, true] as const), ...arr(doc.Definitions).map((d) => [d, false] as const)]) {
    const def = toDef(d, builtIn);
    if (schema.types.has(def.name)) fail(`Cannot redeclare type ${def.name}.`);
    schema.types.set(def.name, def);
    defs.push(def);
  }
  for (const ext of arr(doc.Extensions)) {
    const name = s(ext.Name);
    let def = schema.types.get(name);
    if (!def) {
      def = toDef({ Kind: ext.Kind, Name: name }, false);
      schema.types.set(name, def);
      defs.push(def);
    }
    if (def.kind !== s(ext.Kind)) fail(`Cannot extend type ${name} because the base type is a ${def.kind}, not ${s(ext.Kind)}.`);
    def.directives.push(...arr(ext.Directives));
    def.interfaces.push(...strs(ext.Interfaces));
    def.fields.push(...arr(ext.Fields));
    def.types.push(...strs(ext.Types));
    def.enumValues.push(...arr(ext.EnumValues));
  }
  const addPossible = (abstract: string, concrete: string) => {
    let set = schema.possible.get(abstract);
    if (!set) schema.possible.set(abstract, (set = new Set()));
    set.add(concrete);
  };
  for (const def of defs) {
    if (def.kind === 'UNION') for (const t of def.types) addPossible(def.name, t);
    if (def.kind === 'OBJECT' || def.kind === 'INPUT_OBJECT' || def.kind === 'INTERFACE') {
      for (const i of def.interfaces) addPossible(i, def.name);
      if (def.kind !== 'INTERFACE') addPossible(def.name, def.name);
    }
  }
  const preludeDirectives = new Set(arr(p.Directives).map((d) => s(d.Name)));
  for (const d of [...arr(p.Directives), ...arr(doc.Directives)]) {
    const name = s(d.Name);
    if (schema.directives.has(name) && !preludeDirectives.has(name)) fail(`Cannot redeclare directive ${name}.`);
    schema.directives.set(name, { name, args: arr(d.Arguments), locations: strs(d.Locations), repeatable: d.IsRepeatable === true, directives: [...arr(d.Directives)] });
  }
  for (const ext of arr(doc.DirectiveExtensions)) {
    const def = schema.directives.get(s(ext.Name));
    if (!def) fail(`Cannot extend directive @${s(ext.Name)} because it is not defined.`);
    def.directives.push(...arr(ext.Directives));
  }
  const schemaDefs = arr(doc.Schema);
  if (schemaDefs.length > 1) fail('Cannot have multiple schema entry points, consider schema extensions instead.');
  const seenRoots = new Set<string>();
  for (const sd of [...schemaDefs, ...arr(doc.SchemaExtension)]) {
    for (const ot of arr(sd.OperationTypes)) {
      const op = s(ot.Operation) as 'query' | 'mutation' | 'subscription';
      if (seenRoots.has(op)) fail(`There can be only one ${op} type in schema.`);
      seenRoots.add(op);
      const def = schema.types.get(s(ot.Type));
      if (!def) fail(`Schema root ${op} refers to a type ${s(ot.Type)} that does not exist.`);
      schema.roots[op] = def;
    }
    validateDirectives(schema, arr(sd.Directives), 'SCHEMA', undefined, true);
  }
  for (const name of [...schema.types.keys()].sort()) validateDefinition(schema, schema.types.get(name)!);
  validateInputCycles(schema);
  for (const name of [...schema.directives.keys()].sort()) {
    const d = schema.directives.get(name)!;
    checkName(d.name);
    dupArg(d.args, `@${d.name}`);
    validateDirectives(schema, d.directives, 'DIRECTIVE_DEFINITION', d, true);
    validateArgs(schema, d.args, d);
  }
  if (schemaDefs.length === 0) {
    for (const [op, name] of [['query', 'Query'], ['mutation', 'Mutation'], ['subscription', 'Subscription']] as const) {
      if (!schema.roots[op] && schema.types.has(name)) schema.roots[op] = schema.types.get(name);
    }
  }
  for (const op of ['query', 'mutation', 'subscription'] as const) {
    const def = schema.roots[op];
    if (def && def.kind !== 'OBJECT') fail(`${op} root type must be Object type, it cannot be ${def.name}.`);
  }
  return schema;
}

function dupArg(args: Json[], owner: string): void {
  const seen = new Set<string>();
  for (const a of args) {
    if (seen.has(s(a.Name))) fail(`Argument ${owner}(${s(a.Name)}:) can only be defined once.`);
    seen.add(s(a.Name));
  }
}

function validateArgs(schema: Schema, args: Json[], current: DirectiveDef | undefined): void {
  for (const a of args) {
    checkName(s(a.Name));
    const t = a.Type as TypeRef | undefined;
    const def = schema.types.get(typeName(t));
    if (!def) fail(`Undefined type ${typeName(t)}.`);
    validateInputFieldNames(a.DefaultValue as Json | undefined);
    if (!INPUT_KINDS.has(def.kind)) fail(`cannot use ${typeString(t ?? {})} as argument ${s(a.Name)} because ${def.kind} is not a valid input type`);
    validateDirectives(schema, arr(a.Directives), 'ARGUMENT_DEFINITION', current, true);
  }
}

function validateInputFieldNames(v: Json | undefined): void {
  if (!v) return;
  const seen = new Set<string>();
  for (const c of arr(v.Children)) {
    if (v.Kind === 9) {
      if (seen.has(s(c.Name))) fail(`There can be only one input field named "${s(c.Name)}".`);
      seen.add(s(c.Name));
    }
    validateInputFieldNames(c.Value as Json | undefined);
  }
}

function validateDirectives(schema: Schema, dirs: Json[], location: string, current: DirectiveDef | undefined, single: boolean): void {
  const seen = new Set<string>();
  for (const dir of dirs) {
    const name = s(dir.Name);
    checkName(name);
    if (current && name === current.name) fail(`Directive ${name} cannot refer to itself.`);
    const def = schema.directives.get(name);
    if (!def) fail(`Undefined directive ${name}.`);
    if (single) {
      if (seen.has(name) && !def.repeatable) fail(`The directive ${name} can only be used once at this location.`);
      seen.add(name);
    }
    if (!def.locations.includes(location)) fail(`Directive ${name} is not applicable on ${location}.`);
    const given = arr(dir.Arguments);
    given.forEach((a, i) => {
      if (!def.args.some((d) => d.Name === a.Name)) fail(`Undefined argument ${s(a.Name)} for directive ${name}.`);
      if (given.slice(0, i).some((b) => b.Name === a.Name)) fail(`There can be only one argument named ${s(a.Name)}.`);
    });
    for (const d of def.args) {
      const t = d.Type as TypeRef | undefined;
      if (t?.NonNull && d.DefaultValue === undefined) {
        const a = given.find((g) => g.Name === d.Name);
        if (!a || (a.Value as Json | undefined)?.Kind === 6) fail(`Argument ${s(d.Name)} for directive ${name} cannot be null.`);
      }
    }
    for (const a of given) validateInputFieldNames(a.Value as Json | undefined);
  }
}

function isCovariant(schema: Schema, required: TypeRef | undefined, actual: TypeRef | undefined): boolean {
  if (!required || !actual) return false;
  if (required.NonNull && !actual.NonNull) return false;
  if (required.NamedType) {
    if (required.NamedType === actual.NamedType) return true;
    return schema.possible.get(required.NamedType)?.has(actual.NamedType ?? '') ?? false;
  }
  if (required.Elem && !actual.Elem) return false;
  return isCovariant(schema, required.Elem, actual.Elem);
}

function sameType(a: TypeRef | undefined, b: TypeRef | undefined): boolean {
  if (!a || !b) return a === b;
  return (a.NamedType ?? '') === (b.NamedType ?? '') && !!a.NonNull === !!b.NonNull && sameType(a.Elem, b.Elem);
}

function validateImplements(schema: Schema, def: Def, ifaceName: string): void {
  const iface = schema.types.get(ifaceName);
  if (!iface) fail(`Undefined type "${ifaceName}".`);
  if (iface.kind !== 'INTERFACE') fail(`"${ifaceName}" is a non interface type ${iface.kind}.`);
  if (iface.name === def.name) fail(`Type ${def.name} cannot implement itself because it would create a circular reference.`);
  for (const rf of iface.fields) {
    const found = def.fields.find((f) => f.Name === rf.Name);
    if (!found) fail(`For ${def.name} to implement ${iface.name} it must have a field called ${s(rf.Name)}.`);
    if (!isCovariant(schema, rf.Type as TypeRef, found.Type as TypeRef)) fail(`For ${def.name} to implement ${iface.name} the field ${s(rf.Name)} must have type ${typeString(rf.Type as TypeRef)}.`);
    for (const ra of arr(rf.Arguments)) {
      const fa = arr(found.Arguments).find((a) => a.Name === ra.Name);
      if (!fa) fail(`For ${def.name} to implement ${iface.name} the field ${s(rf.Name)} must have the same arguments but it is missing ${s(ra.Name)}.`);
      if (!sameType(ra.Type as TypeRef, fa.Type as TypeRef)) fail(`For ${def.name} to implement ${iface.name} the field ${s(rf.Name)} must have the same arguments but ${s(ra.Name)} has the wrong type.`);
    }
    for (const fa of arr(found.Arguments)) {
      if (!arr(rf.Arguments).some((a) => a.Name === fa.Name) && (fa.Type as TypeRef | undefined)?.NonNull && fa.DefaultValue === undefined) {
        fail(`For ${def.name} to implement ${iface.name} any additional arguments on ${s(found.Name)} must be optional or have a default value but ${s(fa.Name)} is required.`);
      }
    }
  }
  for (const transitive of iface.interfaces) {
    if (!def.interfaces.includes(transitive)) {
      if (transitive === def.name) fail(`Type ${def.name} cannot implement ${ifaceName} because it would create a circular reference.`);
      fail(`Type ${def.name} must implement ${transitive} because it is implemented by ${ifaceName}.`);
    }
  }
}

function validateDefinition(schema: Schema, def: Def): void {
  for (const f of def.fields) {
    checkName(s(f.Name));
    const tn = typeName(f.Type as TypeRef);
    if (!schema.types.has(tn)) fail(`Undefined type ${tn}.`);
    validateInputFieldNames(f.DefaultValue as Json | undefined);
    dupArg(arr(f.Arguments), `${def.name}.${s(f.Name)}`);
    validateArgs(schema, arr(f.Arguments), undefined);
    validateDirectives(schema, arr(f.Directives), def.kind === 'INPUT_OBJECT' ? 'INPUT_FIELD_DEFINITION' : 'FIELD_DEFINITION', undefined, true);
  }
  for (const t of def.types) {
    const td = schema.types.get(t);
    if (!td) fail(`Undefined type "${t}".`);
    if (td.kind !== 'OBJECT') fail(`${def.kind} type "${t}" must be OBJECT.`);
  }
  def.interfaces.forEach((i, idx) => {
    if (def.interfaces.slice(0, idx).includes(i)) fail(`Type ${def.name} can only implement ${i} once.`);
    validateImplements(schema, def, i);
  });
  const empty = () => fail(`${def.kind} ${def.name}: must define one or more ${def.kind === 'ENUM' ? 'unique enum values' : def.kind === 'UNION' ? 'member types' : def.kind === 'INPUT_OBJECT' ? 'input fields' : 'fields'}.`);
  switch (def.kind) {
    case 'OBJECT':
    case 'INTERFACE':
      if (def.fields.length === 0) empty();
      for (const f of def.fields) {
        const t = schema.types.get(typeName(f.Type as TypeRef));
        if (t && !OUTPUT_KINDS.has(t.kind)) fail(`${def.kind} ${def.name}: field must be one of SCALAR, OBJECT, INTERFACE, UNION, ENUM.`);
      }
      break;
    case 'ENUM':
      if (def.enumValues.length === 0) empty();
      for (const v of def.enumValues) {
        checkName(s(v.Name));
        if (['true', 'false', 'null'].includes(s(v.Name))) fail(`${def.kind} ${def.name}: non-enum value ${s(v.Name)}.`);
        validateDirectives(schema, arr(v.Directives), 'ENUM_VALUE', undefined, true);
      }
      break;
    case 'INPUT_OBJECT':
      if (def.fields.length === 0) empty();
      for (const f of def.fields) {
        const t = schema.types.get(typeName(f.Type as TypeRef));
        if (t && !INPUT_KINDS.has(t.kind)) fail(`${t.kind} ${s(f.Name)}: field must be one of SCALAR, ENUM, INPUT_OBJECT.`);
      }
      break;
    case 'UNION':
      if (def.types.length === 0) empty();
      break;
    default:
  }
  const names = (xs: Json[], what: string) => {
    const seen = new Set<string>();
    for (const x of xs) {
      if (seen.has(s(x.Name))) fail(`${what} ${def.name}.${s(x.Name)} can only be defined once.`);
      seen.add(s(x.Name));
    }
  };
  names(def.fields, 'Field');
  names(def.enumValues, 'Enum value');
  if (new Set(def.types).size !== def.types.length) fail(`Union type ${def.name} can only include a type once.`);
  if (!def.builtIn) checkName(def.name);
  validateDirectives(schema, def.directives, def.kind, undefined, false);
}

function validateInputCycles(schema: Schema): void {
  const visited = new Set<string>();
  const onPath = new Map<string, number>();
  const path: string[] = [];
  const visit = (def: Def): void => {
    if (visited.has(def.name)) return;
    visited.add(def.name);
    onPath.set(def.name, path.length);
    for (const f of def.fields) {
      const t = f.Type as TypeRef | undefined;
      if (!t?.NonNull || !t.NamedType) continue;
      const ft = schema.types.get(t.NamedType);
      if (!ft || ft.kind !== 'INPUT_OBJECT') continue;
      path.push(s(f.Name));
      if (onPath.has(ft.name)) fail(`Cannot reference Input Object "${ft.name}" within itself through a series of non-null fields: "${path.slice(onPath.get(ft.name)).join('.')}".`);
      visit(ft);
      path.pop();
    }
    onPath.delete(def.name);
  };
  for (const name of [...schema.types.keys()].sort()) {
    const def = schema.types.get(name)!;
    if (def.kind === 'INPUT_OBJECT') visit(def);
  }
}

// ---------------------------------------------------------------- queries

interface Ctx {
  schema: Schema;
  fragments: Map<string, Json>;
}

function fieldDef(schema: Schema, parent: Def, name: string): Json | undefined {
  if (name === '__typename') return { Name: '__typename', Type: { NamedType: 'String', NonNull: true } };
  if (parent === schema.roots.query) {
    if (name === '__schema') return { Name: '__schema', Type: { NamedType: '__Schema', NonNull: true } };
    if (name === '__type') {
      return { Name: '__type', Arguments: [{ Name: 'name', Type: { NamedType: 'String', NonNull: true } }], Type: { NamedType: '__Type' } };
    }
  }
  return parent.fields.find((f) => f.Name === name);
}

function possibleTypes(schema: Schema, def: Def): Set<string> {
  if (def.kind === 'OBJECT') return new Set([def.name]);
  return new Set([...(schema.possible.get(def.name) ?? [])].filter((n) => schema.types.get(n)?.kind === 'OBJECT'));
}

/** Validates a literal against an input type (ValuesOfCorrectType); variables are checked elsewhere. */
function checkValue(ctx: Ctx, v: Json | undefined, t: TypeRef | undefined, vars: Map<string, Json>): void {
  if (!v || !t) return;
  const kind = v.Kind as number;
  if (kind === 0) return;
  if (kind === 6) {
    if (t.NonNull) fail(`Expected value of type "${typeString(t)}", found null.`);
    return;
  }
  if (t.Elem) {
    if (kind === 8) {
      for (const c of arr(v.Children)) checkValue(ctx, c.Value as Json, t.Elem, vars);
      return;
    }
    checkValue(ctx, v, t.Elem, vars);
    return;
  }
  const def = ctx.schema.types.get(t.NamedType ?? '');
  if (!def) return;
  const raw = s(v.Raw);
  const bad = () => fail(`Expected value of type "${typeString(t)}", found ${raw || 'a composite value'}.`);
  if (def.kind === 'INPUT_OBJECT') {
    if (kind !== 9) bad();
    const children = arr(v.Children);
    for (const c of children) {
      const f = def.fields.find((x) => x.Name === c.Name);
      if (!f) fail(`Field "${s(c.Name)}" is not defined by type "${def.name}".`);
      checkValue(ctx, c.Value as Json, f.Type as TypeRef, vars);
    }
    for (const f of def.fields) {
      const ft = f.Type as TypeRef | undefined;
      if (ft?.NonNull && f.DefaultValue === undefined && !children.some((c) => c.Name === f.Name)) {
        fail(`Field "${def.name}.${s(f.Name)}" of required type "${typeString(ft)}" was not provided.`);
      }
    }
    return;
  }
  if (def.kind === 'ENUM') {
    if (kind !== 7 || !def.enumValues.some((e) => e.Name === raw)) bad();
    return;
  }
  switch (def.name) {
    case 'Int':
      if (kind !== 1) bad();
      return;
    case 'Float':
      if (kind !== 1 && kind !== 2) bad();
      return;
    case 'String':
      if (kind !== 3 && kind !== 4) bad();
      return;
    case 'Boolean':
      if (kind !== 5) bad();
      return;
    case 'ID':
      if (kind !== 1 && kind !== 3 && kind !== 4) bad();
      return;
    default:
      if (kind === 7 && def.kind === 'SCALAR') return; // custom scalars accept any literal
  }
}

function collectVariableUses(v: Json | undefined, out: string[]): void {
  if (!v) return;
  if (v.Kind === 0) out.push(s(v.Raw));
  for (const c of arr(v.Children)) collectVariableUses(c.Value as Json, out);
}

function checkArguments(ctx: Ctx, given: Json[], defs: Json[], owner: string, vars: Map<string, Json>, uses: Array<{ name: string; type: TypeRef; hasDefault: boolean }>): void {
  given.forEach((a, i) => {
    const d = defs.find((x) => x.Name === a.Name);
    if (!d) fail(`Unknown argument "${s(a.Name)}" on ${owner}.`);
    if (given.slice(0, i).some((b) => b.Name === a.Name)) fail(`There can be only one argument named "${s(a.Name)}".`);
    checkValue(ctx, a.Value as Json, d.Type as TypeRef, vars);
    validateInputFieldNames(a.Value as Json);
    collectTypedUses(ctx, a.Value as Json, d.Type as TypeRef, d.DefaultValue !== undefined, uses);
  });
  for (const d of defs) {
    const t = d.Type as TypeRef | undefined;
    if (t?.NonNull && d.DefaultValue === undefined) {
      const a = given.find((g) => g.Name === d.Name);
      if (!a) fail(`${owner} argument "${s(d.Name)}" of type "${typeString(t)}" is required, but it was not provided.`);
    }
  }
}

/** Variable uses with the type expected at their position (VariablesInAllowedPosition). */
function collectTypedUses(ctx: Ctx, v: Json | undefined, t: TypeRef | undefined, hasDefault: boolean, uses: Array<{ name: string; type: TypeRef; hasDefault: boolean }>): void {
  if (!v || !t) return;
  if (v.Kind === 0) {
    uses.push({ name: s(v.Raw), type: t, hasDefault });
    return;
  }
  if (v.Kind === 8 && t.Elem) {
    for (const c of arr(v.Children)) collectTypedUses(ctx, c.Value as Json, t.Elem, false, uses);
    return;
  }
  if (v.Kind === 9) {
    const def = ctx.schema.types.get(t.NamedType ?? '');
    for (const c of arr(v.Children)) {
      const f = def?.fields.find((x) => x.Name === c.Name);
      if (f) collectTypedUses(ctx, c.Value as Json, f.Type as TypeRef, f.DefaultValue !== undefined, uses);
    }
  }
}

function checkDirectives(ctx: Ctx, dirs: Json[], location: string, vars: Map<string, Json>, uses: Array<{ name: string; type: TypeRef; hasDefault: boolean }>): void {
  const seen = new Set<string>();
  for (const d of dirs) {
    const name = s(d.Name);
    const def = ctx.schema.directives.get(name);
    if (!def) fail(`Unknown directive "@${name}".`);
    if (!def.locations.includes(location)) fail(`Directive "@${name}" may not be used on ${location}.`);
    if (seen.has(name) && !def.repeatable) fail(`The directive "@${name}" can only be used once at this location.`);
    seen.add(name);
    checkArguments(ctx, arr(d.Arguments), def.args, `directive "@${name}"`, vars, uses);
  }
}

function typesOverlap(schema: Schema, a: Def, b: Def): boolean {
  const pa = possibleTypes(schema, a);
  for (const t of possibleTypes(schema, b)) if (pa.has(t)) return true;
  return false;
}

interface OpState {
  vars: Map<string, Json>;
  uses: Array<{ name: string; type: TypeRef; hasDefault: boolean }>;
  fragmentsSeen: Set<string>;
}

function checkSelectionSet(ctx: Ctx, parent: Def, set: Json[], st: OpState): void {
  for (const sel of set) {
    if (isField(sel)) {
      checkField(ctx, parent, sel, st);
    } else if ('TypeCondition' in sel) {
      const tc = s(sel.TypeCondition);
      let target = parent;
      if (tc) {
        const def = ctx.schema.types.get(tc);
        if (!def) fail(`Unknown type "${tc}".`);
        if (!['OBJECT', 'INTERFACE', 'UNION'].includes(def.kind)) fail(`Fragment cannot condition on non composite type "${tc}".`);
        if (!typesOverlap(ctx.schema, def, parent)) fail(`Fragment cannot be spread here as objects of type "${parent.name}" can never be of type "${tc}".`);
        target = def;
      }
      checkDirectives(ctx, arr(sel.Directives), 'INLINE_FRAGMENT', st.vars, st.uses);
      checkSelectionSet(ctx, target, arr(sel.SelectionSet), st);
    } else {
      const name = s(sel.Name);
      const frag = ctx.fragments.get(name);
      if (!frag) fail(`Unknown fragment "${name}".`);
      checkDirectives(ctx, arr(sel.Directives), 'FRAGMENT_SPREAD', st.vars, st.uses);
      const def = ctx.schema.types.get(s(frag.TypeCondition));
      if (def && !typesOverlap(ctx.schema, def, parent)) {
        fail(`Fragment "${name}" cannot be spread here as objects of type "${parent.name}" can never be of type "${def.name}".`);
      }
      if (!st.fragmentsSeen.has(name)) {
        st.fragmentsSeen.add(name);
        if (def) checkSelectionSet(ctx, def, arr(frag.SelectionSet), st);
      }
    }
  }
}

/** Parsed fields always carry Alias; spreads carry only Name and Directives. */
function isField(sel: Json): boolean {
  return !('TypeCondition' in sel) && ('Alias' in sel || 'Arguments' in sel || 'SelectionSet' in sel);
}

function checkField(ctx: Ctx, parent: Def, f: Json, st: OpState): void {
  const name = s(f.Name);
  const fd = fieldDef(ctx.schema, parent, name);
  if (!fd) fail(`Cannot query field "${name}" on type "${parent.name}".`);
  checkArguments(ctx, arr(f.Arguments), arr(fd.Arguments), `field "${parent.name}.${name}"`, st.vars, st.uses);
  checkDirectives(ctx, arr(f.Directives), 'FIELD', st.vars, st.uses);
  const tn = typeName(fd.Type as TypeRef);
  const t = ctx.schema.types.get(tn);
  if (!t) return;
  const sub = arr(f.SelectionSet);
  if (t.kind === 'SCALAR' || t.kind === 'ENUM') {
    if (sub.length > 0) fail(`Field "${name}" must not have a selection since type "${tn}" has no subfields.`);
  } else {
    if (sub.length === 0) fail(`Field "${name}" of type "${typeString(fd.Type as TypeRef)}" must have a selection of subfields.`);
    checkSelectionSet(ctx, t, sub, st);
  }
}

function allowedPosition(varType: TypeRef, varHasDefault: boolean, locType: TypeRef, locHasDefault: boolean): boolean {
  if (locType.NonNull && !varType.NonNull) {
    if (!(varHasDefault || locHasDefault)) return false;
    return compatible(varType, { ...locType, NonNull: false });
  }
  return compatible(varType, locType);
}

function compatible(v: TypeRef, l: TypeRef): boolean {
  if (l.NonNull) {
    if (!v.NonNull) return false;
    return compatible({ ...v, NonNull: false }, { ...l, NonNull: false });
  }
  if (v.NonNull) return compatible({ ...v, NonNull: false }, l);
  if (l.Elem) return v.Elem ? compatible(v.Elem, l.Elem) : false;
  if (v.Elem) return false;
  return v.NamedType === l.NamedType;
}

function fragmentCycles(ctx: Ctx): void {
  const spreads = (set: Json[], out: string[]) => {
    for (const sel of set) {
      if (!isField(sel) && !('TypeCondition' in sel)) out.push(s(sel.Name));
      spreads(arr(sel.SelectionSet), out);
    }
    return out;
  };
  const state = new Map<string, 1 | 2>();
  const visit = (name: string) => {
    const st = state.get(name);
    if (st === 2) return;
    if (st === 1) fail(`Cannot spread fragment "${name}" within itself.`);
    state.set(name, 1);
    const frag = ctx.fragments.get(name);
    if (frag) for (const n of spreads(arr(frag.SelectionSet), [])) visit(n);
    state.set(name, 2);
  };
  for (const name of ctx.fragments.keys()) visit(name);
}

/** The default validation rules of gqlparser (which OPA runs), minus field-merge overlap checks. */
export function validateQuery(schema: Schema, doc: Json): void {
  const ops = arr(doc.Operations);
  const frags = arr(doc.Fragments);
  const ctx: Ctx = { schema, fragments: new Map() };
  for (const f of frags) {
    if (ctx.fragments.has(s(f.Name))) fail(`There can be only one fragment named "${s(f.Name)}".`);
    ctx.fragments.set(s(f.Name), f);
    const tc = ctx.schema.types.get(s(f.TypeCondition));
    if (!tc) fail(`Unknown type "${s(f.TypeCondition)}".`);
    if (!['OBJECT', 'INTERFACE', 'UNION'].includes(tc.kind)) fail(`Fragment "${s(f.Name)}" cannot condition on non composite type "${tc.name}".`);
  }
  fragmentCycles(ctx);
  const opNames = new Set<string>();
  const usedFragments = new Set<string>();
  for (const op of ops) {
    const name = s(op.Name);
    if (name === '' && ops.length > 1) fail('This anonymous operation must be the only defined operation.');
    if (name !== '') {
      if (opNames.has(name)) fail(`There can be only one operation named "${name}".`);
      opNames.add(name);
    }
    const kind = (s(op.Operation) || 'query') as 'query' | 'mutation' | 'subscription';
    const root = schema.roots[kind];
    if (!root) fail(`Schema does not support operation type "${kind}"`);
    const vars = new Map<string, Json>();
    for (const v of arr(op.VariableDefinitions)) {
      const vn = s(v.Variable);
      if (vars.has(vn)) fail(`There can be only one variable named "$${vn}".`);
      vars.set(vn, v);
      const tn = typeName(v.Type as TypeRef);
      const def = schema.types.get(tn);
      if (!def) fail(`Unknown type "${tn}".`);
      if (!INPUT_KINDS.has(def.kind)) fail(`Variable "$${vn}" cannot be non-input type "${typeString(v.Type as TypeRef)}".`);
      if (v.DefaultValue !== undefined) checkValue(ctx, v.DefaultValue as Json, v.Type as TypeRef, vars);
    }
    const st: OpState = { vars, uses: [], fragmentsSeen: new Set() };
    checkDirectives(ctx, arr(op.Directives), kind.toUpperCase(), vars, st.uses);
    for (const v of arr(op.VariableDefinitions)) checkDirectives(ctx, arr(v.Directives), 'VARIABLE_DEFINITION', vars, st.uses);
    const set = arr(op.SelectionSet);
    if (kind === 'subscription' && set.length !== 1) fail(name ? `Subscription "${name}" must select only one top level field.` : 'Anonymous Subscription must select only one top level field.');
    checkSelectionSet(ctx, root, set, st);
    for (const f of st.fragmentsSeen) usedFragments.add(f);
    const used = new Set<string>();
    for (const u of st.uses) {
      const v = vars.get(u.name);
      if (!v) fail(name ? `Variable "$${u.name}" is not defined by operation "${name}".` : `Variable "$${u.name}" is not defined.`);
      used.add(u.name);
      if (!allowedPosition(v.Type as TypeRef, v.DefaultValue !== undefined && (v.DefaultValue as Json).Kind !== 6, u.type, u.hasDefault)) {
        fail(`Variable "$${u.name}" of type "${typeString(v.Type as TypeRef)}" used in position expecting type "${typeString(u.type)}".`);
      }
    }
    // Variables used in positions without a known type (e.g. unknown arguments) still count as used.
    const all: string[] = [];
    const walk = (sels: Json[], seen: Set<string>) => {
      for (const sel of sels) {
        for (const a of arr(sel.Arguments)) collectVariableUses(a.Value as Json, all);
        for (const d of arr(sel.Directives)) for (const a of arr(d.Arguments)) collectVariableUses(a.Value as Json, all);
        walk(arr(sel.SelectionSet), seen);
        if (!isField(sel) && !('TypeCondition' in sel)) {
          const fn = s(sel.Name);
          if (!seen.has(fn)) {
            seen.add(fn);
            walk(arr(ctx.fragments.get(fn)?.SelectionSet), seen);
          }
        }
      }
    };
    walk(set, new Set());
    for (const n of all) used.add(n);
    for (const vn of vars.keys()) {
      if (!used.has(vn)) fail(name ? `Variable "$${vn}" is never used in operation "${name}".` : `Variable "$${vn}" is never used.`);
    }
  }
  for (const f of ctx.fragments.keys()) if (!usedFragments.has(f)) fail(`Fragment "${f}" is never used.`);
}
