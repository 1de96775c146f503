import type { ActivePolicy } from '../src/policy-store/active-policy.js';
import { policyReadsClock } from '../src/privileges/clock.js';
import { NeedExaminer } from '../src/privileges/examiner.js';
import type { WasmPolicy } from '../src/evaluator/wasm-policy.js';

/** A policy as policyReadsClock sees it: the builtins its wasm imports and its Rego sources. */
function policy(rego: Record<string, string> | undefined, builtins: string[] = []): ActivePolicy {
  return {
    policy: { info: { hostBuiltins: builtins, entrypoints: {} } } as unknown as WasmPolicy,
    revision: 'r',
    contentHash: 'sha256:0',
    loadedAt: new Date(),
    source: { kind: 'bundle', location: 'x' },
    files: rego ? new Map(Object.entries(rego).map(([k, v]) => [k, Buffer.from(v)])) : undefined,
  };
}

describe('privileges: when identical inputs at different times count as one', () => {
  const plain = 'package p\n\nallow if input.tool.name == "x"\n# input.time in a comment\nmsg := "input.time in a string"\n';

  it('treats a policy that reads only input fields other than time as clock-free', () => {
    expect(policyReadsClock(policy({ '/p.rego': plain, '/system/log/mask.rego': 'package system.log\nmask contains "/x" if input.input.tool.name == "y"\n' }))).toBe(false);
  });

  it('does not when the policy reads input.time, reads input whole or by key, or calls a clock builtin', () => {
    expect(policyReadsClock(policy({ '/p.rego': 'package p\nallow if input.time > "2026"\n' }))).toBe(true);
    expect(policyReadsClock(policy({ '/p.rego': 'package p\nallow if input . time > "2026"\n' }))).toBe(true);
    expect(policyReadsClock(policy({ '/p.rego': 'package p\nallow if input["time"] > "2026"\n' }))).toBe(true);
    expect(policyReadsClock(policy({ '/p.rego': 'package p\nallow if f(input)\nf(x) if x.time\n' }))).toBe(true);
    expect(policyReadsClock(policy({ '/p.rego': plain }, ['time.now_ns']))).toBe(true);
    expect(policyReadsClock(policy({ '/p.rego': plain }, ['io.jwt.decode_verify']))).toBe(true);
  });

  it('does not without the Rego sources (nothing can be proven)', () => {
    expect(policyReadsClock(policy(undefined))).toBe(true);
    expect(policyReadsClock(policy({ '/data.json': '{}' }))).toBe(true);
  });

  it('keys inputs with their time unless the policy is clock-free', () => {
    const a = { claims: { sub: 'a' }, tool: { name: 'x' }, time: '2026-11-01T00:00:00Z' };
    const b = { time: '2026-11-02T00:00:00Z', tool: { name: 'x' }, claims: { sub: 'a' } };
    const free = new NeedExaminer({} as WasmPolicy, true);
    const timed = new NeedExaminer({} as WasmPolicy, false);
    expect(free.key(a, 1e15)).toBe(free.key(b, 2e15));
    expect(timed.key(a, 1e15)).not.toBe(timed.key(b, 2e15));
    expect(timed.key(a, 1e15)).not.toBe(timed.key(a, 2e15));
    expect(free.key(a, 1)).not.toBe(free.key({ ...a, claims: { sub: 'b' } }, 1));
  });
});
