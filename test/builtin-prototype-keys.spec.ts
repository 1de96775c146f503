/**
 * Object keys named like JavaScript's prototype machinery (`__proto__`,
 * `constructor`, `toString`) are ordinary keys in Rego. Host builtins that
 * walk or build objects with keys taken from input must neither reach
 * Object.prototype (pollution, or inherited members read as data) nor drop
 * such keys. Differential: the same probe through toolgate's wasm path (host
 * builtins) and the real `opa eval`, plus a check that nothing was polluted.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { runOpa } from '../src/policy-compiler/opa-cli.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

const PROBE = `package probe

patch(c) := x if { x := json.patch(c.doc, c.patches) } else := "undefined"
# With a set inside, the document reaches the host as Rego text (toolgate's own parser), not JSON.
patch_with_set(c) := x if { x := json.patch({"set": {1}, "doc": c.doc}, c.patches) } else := "undefined"
query(c) := x if { x := urlquery.decode_object(c) } else := "undefined"
subset(c) := x if { x := object.subset(c.sup, c.sub) } else := "undefined"
template(c) := x if { x := strings.render_template(c.t, c.v) } else := "undefined"

# METADATA
# entrypoint: true
results := {
  "patch": [patch(c) | some c in input.patch],
  "patch_with_set": [patch_with_set(c) | some c in input.patch_with_set],
  "query": [query(c) | some c in input.query],
  "subset": [subset(c) | some c in input.subset],
  "template": [template(c) | some c in input.template],
}
`;

// JSON text, so "__proto__" is an own key of the parsed input (an object literal would set the prototype).
const INPUT_TEXT = `{
  "patch": [
    {"doc": {}, "patches": [{"op": "add", "path": "/__proto__/polluted", "value": true}]},
    {"doc": {}, "patches": [{"op": "add", "path": ["__proto__", "polluted"], "value": true}]},
    {"doc": {}, "patches": [{"op": "add", "path": "/constructor/prototype/polluted", "value": true}]},
    {"doc": {}, "patches": [{"op": "add", "path": "/__proto__", "value": {"polluted": true}}]},
    {"doc": {"__proto__": {"a": 1}}, "patches": [{"op": "add", "path": "/__proto__/b", "value": 2}]},
    {"doc": {}, "patches": [{"op": "add", "path": "/toString", "value": 1}, {"op": "add", "path": "/constructor", "value": 2}]},
    {"doc": {}, "patches": [{"op": "remove", "path": "/constructor"}]},
    {"doc": {}, "patches": [{"op": "test", "path": "/hasOwnProperty", "value": {}}]},
    {"doc": {}, "patches": [{"op": "copy", "from": "/__proto__", "path": "/x"}]},
    {"doc": {"a": {"b": 1}}, "patches": [{"op": "move", "from": "/a", "path": "/__proto__"}]},
    {"doc": {"__proto__": 1}, "patches": [{"op": "replace", "path": "/__proto__", "value": 3}]}
  ],
  "patch_with_set": [
    {"doc": {"__proto__": {"a": 1}}, "patches": [{"op": "add", "path": "/doc/__proto__/b", "value": 2}]},
    {"doc": {"__proto__": {"a": 1}}, "patches": [{"op": "remove", "path": "/doc/__proto__/a"}]}
  ],
  "query": ["__proto__=x&constructor=y&toString=z&__proto__=w", "a=1&hasOwnProperty=2"],
  "subset": [
    {"sup": {}, "sub": {"constructor": {}}},
    {"sup": {"a": 1}, "sub": {"toString": {}}},
    {"sup": {"__proto__": {"a": 1, "b": 2}}, "sub": {"__proto__": {"a": 1}}}
  ],
  "template": [
    {"t": "[{{.constructor}}][{{.toString}}][{{.a}}]", "v": {"a": 1}},
    {"t": "[{{index . \\"constructor\\"}}][{{index . \\"a\\"}}]", "v": {"a": 1}}
  ]
}`;

/** JSON with keys sorted at every level, and own "__proto__" keys kept (as JSON.stringify does). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

type Results = Record<'patch' | 'patch_with_set' | 'query' | 'subset' | 'template', unknown[]>;

describe('host builtins treat __proto__, constructor and the like as ordinary keys (as OPA does)', () => {
  let ws: PolicyWorkspace;
  let wasm: Results;
  let opa: Results;
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

  beforeAll(async () => {
    ws = await policyWorkspace();
    await ws.write('policies/probe/probe.rego', PROBE);
    const inputFile = path.join(ws.dir, 'input.json');
    await writeFile(inputFile, INPUT_TEXT);
    const built = await buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: ws.out, runTests: false });
    const policy = await WasmPolicy.load(built.files.get('/policy.wasm')!, JSON.parse(built.files.get('/data.json')!.toString('utf8')));
    wasm = policy.evaluate('probe/results', JSON.parse(INPUT_TEXT), { nowNs: Date.now() * 1e6 }) as Results;
    const run = await runOpa(['eval', '--format', 'json', '-d', path.join(ws.policies, 'probe'), '-i', inputFile, 'data.probe.results']);
    expect(run.stderr).toBe('');
    opa = (JSON.parse(run.stdout) as { result: Array<{ expressions: Array<{ value: Results }> }> }).result[0].expressions[0].value;
  }, 120_000);

  afterAll(() => ws.cleanup());

  it('json.patch through a __proto__ or constructor path pollutes nothing and gives what opa eval gives', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The key added by "/__proto__" is an own member of the result, in its JSON too.
    const added = wasm.patch[3] as Record<string, unknown>;
    expect(Object.hasOwn(added, '__proto__') && Object.getPrototypeOf(added) === Object.prototype).toBe(true);
    expect(JSON.stringify(added)).toContain('"__proto__"');
    for (const name of ['patch', 'patch_with_set'] as const) {
      wasm[name].forEach((ours, i) => expect([name, i, canonical(ours)]).toEqual([name, i, canonical(opa[name][i])]));
    }
  });

  it('urlquery.decode_object, object.subset and strings.render_template read only own keys, as opa eval does', () => {
    for (const name of ['query', 'subset', 'template'] as const) {
      wasm[name].forEach((ours, i) => expect([name, i, canonical(ours)]).toEqual([name, i, canonical(opa[name][i])]));
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
  });
});
