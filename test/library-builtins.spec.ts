/**
 * Behaviour gained by moving hand-written parsers onto maintained libraries
 * (graphql-js, node-tar, @peculiar/asn1-x509): each case here was wrong before.
 * Policies are compiled by the real `opa build` and run as WASM.
 */
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { makeCert, type CertSpec, type TestCert } from './support/certs.js';
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

  it('crypto.x509.parse_and_verify_certificates enforces path length, name constraints and key usage along the chain (as Go does)', async () => {
    const policy = await load(ws, 'policies/x509chains/x509chains.rego', [
      'package x509chains',
      '',
      '# METADATA',
      '# entrypoint: true',
      'result := {name: crypto.x509.parse_and_verify_certificates(chain)[0] | some name, chain in input}',
    ]);
    const validity = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2027-01-01T00:00:00Z') };
    const cert = (spec: Omit<CertSpec, 'notBefore' | 'notAfter'>): TestCert => makeCert({ ...spec, ...validity });
    const chain = (...certs: TestCert[]) => certs.map((c) => c.pem).join('');
    const serverAuth = ['1.3.6.1.5.5.7.3.1'];

    // Path length: a root limited to 0 intermediates below it cannot sign an intermediate that signs a leaf.
    const root0 = cert({ cn: 'root pathlen 0', ca: true, pathLen: 0 });
    const mid0 = cert({ cn: 'mid', issuer: root0, ca: true });
    const root1 = cert({ cn: 'root pathlen 1', ca: true, pathLen: 1 });
    const mid1 = cert({ cn: 'mid', issuer: root1, ca: true });
    // Name constraints: the root may only vouch for names under example.com, except secret.example.com.
    const rootNc = cert({ cn: 'constrained root', ca: true, permittedDns: ['example.com'], excludedDns: ['secret.example.com'] });
    // Extended key usage: an intermediate limited to client auth cannot issue server certificates.
    const midClient = cert({ cn: 'client-only mid', issuer: root1, ca: true, eku: ['1.3.6.1.5.5.7.3.2'] });

    const input = {
      pathlen_ok: chain(root1, mid1, cert({ cn: 'leaf', issuer: mid1, dns: ['a.example.com'], eku: serverAuth })),
      pathlen_exceeded: chain(root0, mid0, cert({ cn: 'leaf', issuer: mid0, dns: ['a.example.com'], eku: serverAuth })),
      name_permitted: chain(rootNc, cert({ cn: 'leaf', issuer: rootNc, dns: ['api.example.com'], eku: serverAuth })),
      name_outside: chain(rootNc, cert({ cn: 'leaf', issuer: rootNc, dns: ['api.example.com', 'evil.org'], eku: serverAuth })),
      name_excluded: chain(rootNc, cert({ cn: 'leaf', issuer: rootNc, dns: ['x.secret.example.com'], eku: serverAuth })),
      eku_narrowed_by_mid: chain(root1, midClient, cert({ cn: 'leaf', issuer: midClient, dns: ['a.example.com'], eku: serverAuth })),
    };
    expect(policy.evaluate('x509chains/result', input, CTX)).toEqual({
      pathlen_ok: true,
      pathlen_exceeded: false,
      name_permitted: true,
      name_outside: false,
      name_excluded: false,
      eku_narrowed_by_mid: false,
    });
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
