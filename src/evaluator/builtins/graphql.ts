/**
 * graphql.* builtins: parse_query, parse_schema, parse, parse_and_verify,
 * is_valid, schema_is_valid. Strings are parsed with graphql-parse.ts; AST
 * objects (as returned by the parse builtins) are accepted wherever OPA
 * accepts them. Errors throw (undefined under wasm) except where OPA answers
 * false / [false, {}, {}].
 */
import { parseQueryDocument, parseSchemaDocument, type Json } from './graphql-parse.js';
import { buildSchema, validateQuery } from './graphql-validate.js';

function isObject(x: unknown): x is Json {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function queryDoc(x: unknown): Json {
  if (typeof x === 'string') return parseQueryDocument(x);
  if (isObject(x)) return x;
  throw new TypeError('graphql: query must be a string or an AST object');
}

function schemaDoc(x: unknown): Json {
  if (typeof x === 'string') return parseSchemaDocument(x);
  if (isObject(x)) return x;
  throw new TypeError('graphql: schema must be a string or an AST object');
}

export function graphqlParseQuery(q: unknown): Json {
  if (typeof q !== 'string') throw new TypeError('graphql.parse_query: operand must be a string');
  return parseQueryDocument(q);
}

export function graphqlParseSchema(s: unknown): Json {
  if (typeof s !== 'string') throw new TypeError('graphql.parse_schema: operand must be a string');
  return parseSchemaDocument(s);
}

/** [query AST, schema AST] when the query is valid against the schema; throws otherwise. */
export function graphqlParse(q: unknown, s: unknown): [Json, Json] {
  const query = queryDoc(q);
  const schemaAst = schemaDoc(s);
  validateQuery(buildSchema(schemaAst), query);
  return [query, schemaAst];
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
    buildSchema(schemaDoc(s));
    return true;
  } catch {
    return false;
  }
}
