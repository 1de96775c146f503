/**
 * Prints an AST object in OPA's (gqlparser's) shape back to GraphQL source, so
 * that AST objects a policy passes to graphql.is_valid & co. are checked by
 * the same graphql-js parser and validator as strings. Every name and number
 * is checked against the grammar before it is printed, so a crafted AST object
 * cannot smuggle extra syntax into the printed document.
 */
import type { Json } from './graphql-ast.js';

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;
const INT = /^-?(?:0|[1-9][0-9]*)$/;
const FLOAT = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function arr(x: unknown): Json[] {
  return Array.isArray(x) ? (x as unknown[]).filter((e): e is Json => e !== null && typeof e === 'object' && !Array.isArray(e)) : [];
}

function checked(s: unknown, re: RegExp, what: string): string {
  if (typeof s !== 'string' || !re.test(s)) throw new TypeError(`graphql: AST object has an invalid ${what}: ${JSON.stringify(s)}`);
  return s;
}

function name(s: unknown): string {
  return checked(s, NAME, 'name');
}

function str(s: unknown): string {
  if (typeof s !== 'string') throw new TypeError('graphql: AST object has a non-string description or string value');
  return JSON.stringify(s);
}

function description(d: Json): string {
  return typeof d.Description === 'string' && d.Description !== '' ? `${str(d.Description)} ` : '';
}

function wrap(open: string, items: string[], close: string, sep = ' '): string {
  return items.length > 0 ? `${open}${items.join(sep)}${close}` : '';
}

function value(v: unknown): string {
  const j = arr([v])[0];
  if (!j) throw new TypeError('graphql: AST object has a missing value');
  switch (j.Kind) {
    case 0: return `$${name(j.Raw)}`;
    case 1: return checked(j.Raw, INT, 'Int');
    case 2: return checked(j.Raw, FLOAT, 'Float');
    case 3:
    case 4: return str(j.Raw);
    case 5: return checked(j.Raw, /^(?:true|false)$/, 'Boolean');
    case 6: return 'null';
    case 7: return name(j.Raw);
    case 8: return `[${arr(j.Children).map((c) => value(c.Value)).join(' ')}]`;
    case 9: return `{${arr(j.Children).map((c) => `${name(c.Name)}: ${value(c.Value)}`).join(' ')}}`;
    default: throw new TypeError(`graphql: AST object has an unknown value kind ${JSON.stringify(j.Kind)}`);
  }
}

function typeRef(t: unknown): string {
  const j = arr([t])[0];
  if (!j) throw new TypeError('graphql: AST object has a missing type');
  const inner = j.NamedType ? name(j.NamedType) : `[${typeRef(j.Elem)}]`;
  return j.NonNull === true ? `${inner}!` : inner;
}

function args(as: unknown): string {
  return wrap('(', arr(as).map((a) => `${name(a.Name)}: ${value(a.Value)}`), ')');
}

function directives(ds: unknown): string {
  return arr(ds).map((d) => ` @${name(d.Name)}${args(d.Arguments)}`).join('');
}

function defaultValue(o: Json): string {
  return o.DefaultValue === undefined ? '' : ` = ${value(o.DefaultValue)}`;
}

function variables(vs: unknown): string {
  return wrap('(', arr(vs).map((v) => `${description(v)}$${name(v.Variable)}: ${typeRef(v.Type)}${defaultValue(v)}${directives(v.Directives)}`), ')');
}

function selectionSet(ss: unknown): string {
  return wrap('{ ', arr(ss).map(selection), ' }');
}

/** Fields carry Alias, inline fragments TypeCondition, spreads neither (as gqlparser's JSON does). */
function selection(s: Json): string {
  if ('TypeCondition' in s) {
    const tc = s.TypeCondition ? ` on ${name(s.TypeCondition)}` : '';
    return `...${tc}${directives(s.Directives)} ${selectionSet(s.SelectionSet) || '{ }'}`;
  }
  if (!('Alias' in s) && !('Arguments' in s) && !('SelectionSet' in s)) return `...${name(s.Name)}${directives(s.Directives)}`;
  const alias = s.Alias && s.Alias !== s.Name ? `${name(s.Alias)}: ` : '';
  return `${alias}${name(s.Name)}${args(s.Arguments)}${directives(s.Directives)} ${selectionSet(s.SelectionSet)}`;
}

/** GraphQL source for a query document AST object. */
export function printQueryAst(doc: Json): string {
  const ops = arr(doc.Operations).map((op) => {
    const kind = checked(op.Operation || 'query', /^(?:query|mutation|subscription)$/, 'operation');
    const opName = op.Name ? ` ${name(op.Name)}` : '';
    return `${description(op)}${kind}${opName}${variables(op.VariableDefinitions)}${directives(op.Directives)} ${selectionSet(op.SelectionSet) || '{ }'}`;
  });
  const frags = arr(doc.Fragments).map(
    (f) => `${description(f)}fragment ${name(f.Name)}${variables(f.VariableDefinition)} on ${name(f.TypeCondition)}${directives(f.Directives)} ${selectionSet(f.SelectionSet) || '{ }'}`,
  );
  return [...ops, ...frags].join('\n');
}

function inputValue(v: Json): string {
  return `${description(v)}${name(v.Name)}: ${typeRef(v.Type)}${defaultValue(v)}${directives(v.Directives)}`;
}

const KEYWORDS: Record<string, string> = { SCALAR: 'scalar', OBJECT: 'type', INTERFACE: 'interface', UNION: 'union', ENUM: 'enum', INPUT_OBJECT: 'input' };

function typeDefinition(d: Json, extension: boolean): string {
  const keyword = KEYWORDS[String(d.Kind)];
  if (!keyword) throw new TypeError(`graphql: AST object has an unknown type kind ${JSON.stringify(d.Kind)}`);
  let out = `${extension ? 'extend ' : description(d)}${keyword} ${name(d.Name)}`;
  const ifaces = Array.isArray(d.Interfaces) ? (d.Interfaces as unknown[]) : [];
  if (ifaces.length > 0) out += ` implements ${ifaces.map(name).join(' & ')}`;
  out += directives(d.Directives);
  const types = Array.isArray(d.Types) ? (d.Types as unknown[]) : [];
  if (types.length > 0) out += ` = ${types.map(name).join(' | ')}`;
  if (d.Kind === 'ENUM') out += wrap(' { ', arr(d.EnumValues).map((v) => `${description(v)}${name(v.Name)}${directives(v.Directives)}`), ' }');
  if (d.Kind === 'INPUT_OBJECT') out += wrap(' { ', arr(d.Fields).map(inputValue), ' }');
  if (d.Kind === 'OBJECT' || d.Kind === 'INTERFACE') {
    out += wrap(' { ', arr(d.Fields).map((f) => `${description(f)}${name(f.Name)}${wrap('(', arr(f.Arguments).map(inputValue), ')')}: ${typeRef(f.Type)}${directives(f.Directives)}`), ' }');
  }
  return out;
}

function schemaDefinition(s: Json, extension: boolean): string {
  const ops = arr(s.OperationTypes).map((t) => `${checked(t.Operation, /^(?:query|mutation|subscription)$/, 'operation')}: ${name(t.Type)}`);
  return `${extension ? 'extend ' : description(s)}schema${directives(s.Directives)}${wrap(' { ', ops, ' }')}`;
}

/** GraphQL source for a schema document AST object. */
export function printSchemaAst(doc: Json): string {
  return [
    ...arr(doc.Schema).map((s) => schemaDefinition(s, false)),
    ...arr(doc.SchemaExtension).map((s) => schemaDefinition(s, true)),
    ...arr(doc.Directives).map((d) => {
      const locations = (Array.isArray(d.Locations) ? (d.Locations as unknown[]) : []).map(name);
      const repeatable = d.IsRepeatable === true ? ' repeatable' : '';
      return `${description(d)}directive @${name(d.Name)}${wrap('(', arr(d.Arguments).map(inputValue), ')')}${directives(d.Directives)}${repeatable} on ${locations.join(' | ')}`;
    }),
    ...arr(doc.DirectiveExtensions).map((d) => `extend directive @${name(d.Name)}${directives(d.Directives)}`),
    ...arr(doc.Definitions).map((d) => typeDefinition(d, false)),
    ...arr(doc.Extensions).map((d) => typeDefinition(d, true)),
  ].join('\n');
}
