/**
 * graphql.* builtins: parse_query, parse_schema, parse, parse_and_verify,
 * is_valid, schema_is_valid. graphql-js parses and validates; graphql-ast.ts
 * reshapes its AST into the gqlparser shape OPA returns, and AST objects a
 * policy passes in are printed back to source (graphql-print.ts) so both forms
 * meet the same checks. Where gqlparser (which OPA runs) is more permissive
 * than graphql-js, the schema is adjusted here. Errors throw (undefined under
 * wasm) except where OPA answers false / [false, {}, {}].
 */
import {
  GraphQLError, GraphQLSchema, Kind, buildASTSchema, isTypeDefinitionNode, specifiedDirectives, specifiedScalarTypes, specifiedRules, validate, validateSchema,
  type ASTVisitor, type DefinitionNode, type DocumentNode, type ValidationContext,
} from 'graphql';
import { parseDocument, toQueryAst, toSchemaAst, type Json } from './graphql-ast.js';
import { printQueryAst, printSchemaAst } from './graphql-print.js';

function isObject(x: unknown): x is Json {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function fail(errors: readonly GraphQLError[]): void {
  if (errors.length > 0) throw new TypeError(`graphql: ${errors[0].message}`);
}

/** A parsed document and its OPA-shaped AST (the object itself when one was passed in). */
function document(x: unknown, toAst: (d: DocumentNode) => Json, print: (j: Json) => string, what: string): [DocumentNode, Json] {
  if (typeof x === 'string') {
    const doc = parseDocument(x);
    return [doc, toAst(doc)];
  }
  if (isObject(x)) {
    const doc = parseDocument(print(x));
    toAst(doc);
    return [doc, x];
  }
  throw new TypeError(`graphql: ${what} must be a string or an AST object`);
}

const queryDocument = (q: unknown) => document(q, toQueryAst, printQueryAst, 'query');
const schemaDocument = (s: unknown) => document(s, toSchemaAst, printSchemaAst, 'schema');

/** gqlparser's prelude declares @defer; graphql-js 16 keeps it out of the specified directives. */
const DEFER = parseDocument('directive @defer(if: Boolean = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT').definitions[0];

const EXTENSION_TO_DEFINITION: Partial<Record<Kind, Kind>> = {
  [Kind.SCALAR_TYPE_EXTENSION]: Kind.SCALAR_TYPE_DEFINITION,
  [Kind.OBJECT_TYPE_EXTENSION]: Kind.OBJECT_TYPE_DEFINITION,
  [Kind.INTERFACE_TYPE_EXTENSION]: Kind.INTERFACE_TYPE_DEFINITION,
  [Kind.UNION_TYPE_EXTENSION]: Kind.UNION_TYPE_DEFINITION,
  [Kind.ENUM_TYPE_EXTENSION]: Kind.ENUM_TYPE_DEFINITION,
  [Kind.INPUT_OBJECT_TYPE_EXTENSION]: Kind.INPUT_OBJECT_TYPE_DEFINITION,
};

const BUILT_IN_SCALARS = new Set(specifiedScalarTypes.map((t) => t.name));

/**
 * The schema document as gqlparser reads it: an extension of a type that is
 * not defined defines it, the built-in scalars cannot be redefined, and
 * @defer exists unless the schema declares its own.
 */
function gqlparserSchema(doc: DocumentNode): DocumentNode {
  const named = (d: DefinitionNode) => ('name' in d && d.name ? d.name.value : '');
  const definitions = doc.definitions.filter((d) => isTypeDefinitionNode(d)).map(named);
  const redefined = definitions.find((n) => BUILT_IN_SCALARS.has(n));
  if (redefined) throw new TypeError(`graphql: Cannot redeclare type ${redefined}.`);
  const defined = new Set([...definitions, ...BUILT_IN_SCALARS]);
  const adjusted = doc.definitions.map((d) => {
    const asDefinition = EXTENSION_TO_DEFINITION[d.kind];
    if (!asDefinition || defined.has(named(d))) return d;
    defined.add(named(d));
    return { ...d, kind: asDefinition } as DefinitionNode;
  });
  const hasDefer = doc.definitions.some((d) => d.kind === Kind.DIRECTIVE_DEFINITION && d.name.value === 'defer');
  if (!hasDefer && !specifiedDirectives.some((d) => d.name === 'defer')) adjusted.push(DEFER);
  return { ...doc, definitions: adjusted };
}

/** Builds and validates the schema; gqlparser, unlike the spec, does not require a query root type. */
function buildSchema(doc: DocumentNode): GraphQLSchema {
  const schema = buildASTSchema(gqlparserSchema(doc));
  fail(validateSchema(schema).filter((e) => !/^Query root type must be provided/.test(e.message)));
  return new GraphQLSchema({ ...schema.toConfig(), assumeValid: true });
}

/** An operation needs its root type (gqlparser's KnownRootType; graphql-js 16 leaves it to execution). */
function knownRootType(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(node) {
      if (!context.getSchema().getRootType(node.operation)) {
        context.reportError(new GraphQLError(`Schema does not support operation type "${node.operation}"`, { nodes: node }));
      }
    },
  };
}

const RULES = [...specifiedRules, knownRootType];

export function graphqlParseQuery(q: unknown): Json {
  if (typeof q !== 'string') throw new TypeError('graphql.parse_query: operand must be a string');
  return queryDocument(q)[1];
}

export function graphqlParseSchema(s: unknown): Json {
  if (typeof s !== 'string') throw new TypeError('graphql.parse_schema: operand must be a string');
  return schemaDocument(s)[1];
}

/** [query AST, schema AST] when the query is valid against the schema; throws otherwise. */
export function graphqlParse(q: unknown, s: unknown): [Json, Json] {
  const [queryDoc, queryAst] = queryDocument(q);
  const [schemaDoc, schemaAst] = schemaDocument(s);
  fail(validate(buildSchema(schemaDoc), queryDoc, RULES));
  return [queryAst, schemaAst];
}

export function graphqlParseAndVerify(q: unknown, s: unknown): [boolean, Json, Json] {
  try {
    const [query, schemaAst] = graphqlParse(q, s);
    return [true, query, schemaAst];
  } catch {
    return [false, {}, {}];
  }
}

export function graphqlIsValid(q: unknown, s: unknown): boolean {
  try {
    graphqlParse(q, s);
    return true;
  } catch {
    return false;
  }
}

export function graphqlSchemaIsValid(s: unknown): boolean {
  try {
    buildSchema(schemaDocument(s)[0]);
    return true;
  } catch {
    return false;
  }
}
