/**
 * Behaviour gained by moving hand-written parsers onto maintained libraries
 * (graphql-js, node-tar, @peculiar/x509): each case here was wrong before.
 * Policies are compiled by the real `opa build` and run as WASM.
 */
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

const CTX = { nowNs: Date.parse('2026-11-26T10:00:00Z') * 1e6 };

async function load(ws: PolicyWorkspace, rel: string, rego: string[]): Promise<WasmPolicy> {
  await ws.write(rel, rego.join('\n') + '\n');
  const built = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
  const data = JSON.parse(built.files.get('/data.json')!.toString('utf8'));
  return WasmPolicy.load(built.files.get('/policy.wasm')!, data, {});
}

describe('builtins on maintained libraries', () => {
  let ws: PolicyWorkspace;
  beforeEach(async () => {
    ws = await policyWorkspace();
  });
  afterEach(() => ws.cleanup());

  it('reads a bundle whose long, non-ASCII path opa writes with a PAX header (the old reader truncated it)', async () => {
    // Go's archive/tar (inside `opa build`) keeps ustar's 100-byte name field for short ASCII
    // paths and moves longer or non-ASCII ones into a PAX extended header.
    const dir = `policies/${'nested-'.repeat(16)}/caf\u00e9`;
    await ws.write(`${dir}/long.rego`, 'package long\n\nanswer := 42\n');
    const built = await buildPolicyBundle({ policyDir: ws.policies, outDir: ws.out, runTests: false });
    const rego = [...built.files.keys()].filter((k) => k.endsWith('/long.rego'));
    expect(rego).toHaveLength(1);
    expect(rego[0]).toContain(`${'nested-'.repeat(16)}/caf\u00e9/long.rego`);
    expect(built.files.get(rego[0])!.toString('utf8')).toContain('answer := 42');
  });

  it('graphql.is_valid refuses fields that cannot be merged (OverlappingFieldsCanBeMerged), for strings and AST objects', async () => {
    const policy = await load(ws, 'policies/gql/overlap.rego', [
      'package gql',
      '',
      'schema := `type Query { user(id: ID!): User, pet: Pet } type User { id: ID! name: String } union Pet = Cat | Dog type Cat { n: String } type Dog { n: Int }`',
      '',
      '# METADATA',
      '# entrypoint: true',
      'result := {q: [graphql.is_valid(q, schema), graphql.is_valid(graphql.parse_query(q), graphql.parse_schema(schema))] | some q in input.queries}',
    ]);
    const queries = {
      plain: '{ user(id: "1") { name } }',
      sameAliasDifferentFields: '{ user(id: "1") { x: id x: name } }',
      sameFieldDifferentArgs: '{ a: user(id: "1") { id } a: user(id: "2") { id } }',
      conflictingShapes: '{ pet { ... on Cat { n } ... on Dog { n } } }',
    };
    expect(policy.evaluate('gql/result', { queries: Object.values(queries) }, CTX)).toEqual({
      [queries.plain]: [true, true],
      [queries.sameAliasDifferentFields]: [false, false],
      [queries.sameFieldDifferentArgs]: [false, false],
      [queries.conflictingShapes]: [false, false],
    });
  });
});
