/**
 * graphql-js's parser with an adapter to the AST OPA's graphql.* builtins
 * return: the JSON form of gqlparser's structs (Go field names), with null
 * and empty list/object fields dropped and empty strings and false booleans
 * kept. graphql-js does the lexing and grammar; this file only reshapes its
 * nodes. Where gqlparser's grammar differs, this follows gqlparser: an empty
 * document is a valid query document, and definitions of the other kind of
 * document are refused.
 */
import {
  Kind, Lexer, Source, TokenKind, parse, type ConstDirectiveNode, type DefinitionNode, type DirectiveNode,
  type DocumentNode, type FieldDefinitionNode, type InputValueDefinitionNode, type ParseOptions,
  type SelectionNode, type StringValueNode, type TypeNode, type ValueNode, type VariableDefinitionNode,
} from 'graphql';

export type Json = Record<string, unknown>;

const PARSE_OPTIONS: ParseOptions = {
  noLocation: true,
  // gqlparser accepts `fragment F($v: T) on X` and directives on directive definitions.
  allowLegacyFragmentVariables: true,
  experimentalDirectivesOnDirectiveDefinitions: true,
};

/** Parses GraphQL source with graphql-js; an empty (tokenless) source is an empty document, as in gqlparser. */
export function parseDocument(src: string): DocumentNode {
  const source = new Source(src);
  if (new Lexer(source).advance().kind === TokenKind.EOF) return { kind: Kind.DOCUMENT, definitions: [] };
  return parse(source, PARSE_OPTIONS);
}

/** Adds key only when the list is non-empty (the pruning OPA applies). */
function list(o: Json, key: string, xs: readonly unknown[] | undefined): Json {
  if (xs && xs.length > 0) o[key] = xs;
  return o;
}

function desc(d: StringValueNode | undefined): string {
  return d?.value ?? '';
}

function typeRef(t: TypeNode): Json {
  if (t.kind === Kind.NON_NULL_TYPE) return { ...typeRef(t.type), NonNull: true };
  if (t.kind === Kind.LIST_TYPE) return { NamedType: '', Elem: typeRef(t.type), NonNull: false };
  return { NamedType: t.name.value, NonNull: false };
}

/** gqlparser's ValueKind numbers. */
function value(v: ValueNode): Json {
  const out = (kind: number, raw: string): Json => ({ Raw: raw, Kind: kind, ExpectedTypeHasDefault: false });
  switch (v.kind) {
    case Kind.VARIABLE: return out(0, v.name.value);
    case Kind.INT: return out(1, v.value);
    case Kind.FLOAT: return out(2, v.value);
    case Kind.STRING: return out(v.block ? 4 : 3, v.value);
    case Kind.BOOLEAN: return out(5, String(v.value));
    case Kind.NULL: return out(6, 'null');
    case Kind.ENUM: return out(7, v.value);
    case Kind.LIST: return list(out(8, ''), 'Children', v.values.map((c) => ({ Name: '', Value: value(c) })));
    case Kind.OBJECT: return list(out(9, ''), 'Children', v.fields.map((f) => ({ Name: f.name.value, Value: value(f.value) })));
  }
}

function directives(ds: readonly (DirectiveNode | ConstDirectiveNode)[] | undefined): Json[] {
  return (ds ?? []).map((d) => ({ ...list({ Name: d.name.value }, 'Arguments', args(d.arguments)), Location: '' }));
}

function args(as: DirectiveNode['arguments']): Json[] {
  return (as ?? []).map((a) => ({ Name: a.name.value, Value: value(a.value) }));
}

function variableDefinitions(vs: readonly VariableDefinitionNode[] | undefined): Json[] {
  return (vs ?? []).map((v) => {
    const o: Json = { Description: desc(v.description), Variable: v.variable.name.value, Type: typeRef(v.type) };
    if (v.defaultValue) o.DefaultValue = value(v.defaultValue);
    return { ...list(o, 'Directives', directives(v.directives)), Used: false };
  });
}

function selections(ss: readonly SelectionNode[] | undefined): Json[] {
  return (ss ?? []).map((s) => {
    switch (s.kind) {
      case Kind.FIELD: {
        const f: Json = { Alias: s.alias?.value ?? s.name.value, Name: s.name.value };
        list(f, 'Arguments', args(s.arguments));
        list(f, 'Directives', directives(s.directives));
        return list(f, 'SelectionSet', selections(s.selectionSet?.selections));
      }
      case Kind.FRAGMENT_SPREAD:
        return list({ Name: s.name.value }, 'Directives', directives(s.directives));
      case Kind.INLINE_FRAGMENT: {
        const f: Json = list({ TypeCondition: s.typeCondition?.name.value ?? '' }, 'Directives', directives(s.directives));
        return list(f, 'SelectionSet', selections(s.selectionSet.selections));
      }
    }
  });
}

/** A query document in OPA's shape; type-system definitions are a syntax error here, as in gqlparser. */
export function toQueryAst(doc: DocumentNode): Json {
  const operations: Json[] = [];
  const fragments: Json[] = [];
  for (const d of doc.definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION) {
      const op: Json = { Description: desc(d.description), Operation: d.operation, Name: d.name?.value ?? '' };
      list(op, 'VariableDefinitions', variableDefinitions(d.variableDefinitions));
      list(op, 'Directives', directives(d.directives));
      operations.push(list(op, 'SelectionSet', selections(d.selectionSet.selections)));
    } else if (d.kind === Kind.FRAGMENT_DEFINITION) {
      const f: Json = { Description: desc(d.description), Name: d.name.value };
      list(f, 'VariableDefinition', variableDefinitions(d.variableDefinitions));
      f.TypeCondition = d.typeCondition.name.value;
      list(f, 'Directives', directives(d.directives));
      fragments.push(list(f, 'SelectionSet', selections(d.selectionSet.selections)));
    } else {
      throw new TypeError(`graphql: unexpected ${d.kind} in a query document`);
    }
  }
  return list(list({}, 'Operations', operations), 'Fragments', fragments);
}

function inputValues(vs: readonly InputValueDefinitionNode[] | undefined): Json[] {
  return (vs ?? []).map((v) => {
    const o: Json = { Description: desc(v.description), Name: v.name.value, Type: typeRef(v.type) };
    if (v.defaultValue) o.DefaultValue = value(v.defaultValue);
    return list(o, 'Directives', directives(v.directives));
  });
}

function fieldDefinitions(fs: readonly FieldDefinitionNode[] | undefined): Json[] {
  return (fs ?? []).map((f) => {
    const o: Json = list({ Description: desc(f.description), Name: f.name.value }, 'Arguments', inputValues(f.arguments));
    o.Type = typeRef(f.type);
    return list(o, 'Directives', directives(f.directives));
  });
}

const TYPE_KINDS: Partial<Record<Kind, string>> = {
  [Kind.SCALAR_TYPE_DEFINITION]: 'SCALAR', [Kind.SCALAR_TYPE_EXTENSION]: 'SCALAR',
  [Kind.OBJECT_TYPE_DEFINITION]: 'OBJECT', [Kind.OBJECT_TYPE_EXTENSION]: 'OBJECT',
  [Kind.INTERFACE_TYPE_DEFINITION]: 'INTERFACE', [Kind.INTERFACE_TYPE_EXTENSION]: 'INTERFACE',
  [Kind.UNION_TYPE_DEFINITION]: 'UNION', [Kind.UNION_TYPE_EXTENSION]: 'UNION',
  [Kind.ENUM_TYPE_DEFINITION]: 'ENUM', [Kind.ENUM_TYPE_EXTENSION]: 'ENUM',
  [Kind.INPUT_OBJECT_TYPE_DEFINITION]: 'INPUT_OBJECT', [Kind.INPUT_OBJECT_TYPE_EXTENSION]: 'INPUT_OBJECT',
};

/** One type definition or extension in gqlparser's Definition shape. */
function typeDefinition(d: DefinitionNode): Json {
  if (!('name' in d) || !d.name || !('directives' in d)) throw new TypeError(`graphql: unexpected ${d.kind}`);
  const o: Json = { Kind: TYPE_KINDS[d.kind], Description: 'description' in d ? desc(d.description) : '', Name: d.name.value };
  list(o, 'Directives', directives(d.directives));
  if ('interfaces' in d) list(o, 'Interfaces', d.interfaces?.map((i) => i.name.value));
  if ('fields' in d) {
    const isInput = d.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION || d.kind === Kind.INPUT_OBJECT_TYPE_EXTENSION;
    list(o, 'Fields', isInput ? inputValues(d.fields as readonly InputValueDefinitionNode[]) : fieldDefinitions(d.fields as readonly FieldDefinitionNode[]));
  }
  if ('types' in d) list(o, 'Types', d.types?.map((t) => t.name.value));
  if ('values' in d) list(o, 'EnumValues', d.values?.map((v) => list({ Description: desc(v.description), Name: v.name.value }, 'Directives', directives(v.directives))));
  o.BuiltIn = false;
  return o;
}

/** A schema document in OPA's shape; executable definitions are a syntax error here, as in gqlparser. */
export function toSchemaAst(doc: DocumentNode): Json {
  const out: Record<string, Json[]> = { Schema: [], SchemaExtension: [], Directives: [], DirectiveExtensions: [], Definitions: [], Extensions: [] };
  for (const d of doc.definitions) {
    switch (d.kind) {
      case Kind.SCHEMA_DEFINITION:
      case Kind.SCHEMA_EXTENSION: {
        const s: Json = list({ Description: d.kind === Kind.SCHEMA_DEFINITION ? desc(d.description) : '' }, 'Directives', directives(d.directives));
        list(s, 'OperationTypes', d.operationTypes?.map((t) => ({ Operation: t.operation, Type: t.type.name.value })));
        out[d.kind === Kind.SCHEMA_DEFINITION ? 'Schema' : 'SchemaExtension'].push(s);
        break;
      }
      case Kind.DIRECTIVE_DEFINITION: {
        const o: Json = list({ Description: desc(d.description), Name: d.name.value }, 'Arguments', inputValues(d.arguments));
        list(o, 'Directives', directives(d.directives));
        out.Directives.push({ ...o, IsRepeatable: d.repeatable, Locations: d.locations.map((l) => l.value) });
        break;
      }
      case Kind.DIRECTIVE_EXTENSION:
        out.DirectiveExtensions.push({ Description: '', Name: d.name.value, Directives: directives(d.directives), IsRepeatable: false });
        break;
      case Kind.OPERATION_DEFINITION:
      case Kind.FRAGMENT_DEFINITION:
        throw new TypeError(`graphql: unexpected ${d.kind} in a schema document`);
      default:
        out[d.kind.endsWith('Extension') ? 'Extensions' : 'Definitions'].push(typeDefinition(d));
    }
  }
  const o: Json = {};
  for (const [k, v] of Object.entries(out)) list(o, k, v);
  return o;
}
