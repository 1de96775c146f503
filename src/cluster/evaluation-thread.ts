/**
 * One evaluation thread of a cluster worker: it loads the revisions it is sent and
 * evaluates jobs, synchronously, one at a time. It shares nothing with the thread that
 * reads and answers HTTP, so a stuck evaluation here stops only this thread, which the
 * pool terminates (V8 interrupts a running wasm loop) and replaces.
 */
import { parentPort } from 'node:worker_threads';
import { describeThrown, ToolgateError } from '../common/errors.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import type { FromThread, ItemResult, ToThread } from './evaluation-protocol.js';

const port = parentPort!;
const encoder = new TextEncoder();
const loaded = new Map<number, WasmPolicy>();
const loading = new Map<number, Promise<WasmPolicy | undefined>>();

function fail(e: unknown): ItemResult {
  return { ok: false, code: e instanceof ToolgateError ? e.code : 'eval_failed', message: describeThrown(e) };
}

function run(policy: WasmPolicy, m: Extract<ToThread, { t: 'eval' }>): ItemResult[] {
  const ctx = { nowNs: m.nowNs };
  const out: ItemResult[] = [];
  for (const json of m.inputs) {
    try {
      // JSON bytes as an ArrayBuffer go into the wasm heap as they are (the SDK's raw path).
      const bytes = encoder.encode(json);
      const buf = bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
      out.push({ ok: true, v: policy.evaluate(m.e, buf, ctx) });
    } catch (e) {
      out.push(fail(e));
      if (!m.each) break;
    }
  }
  return out;
}

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'load': {
      const p = WasmPolicy.load(m.module, m.data, m.options).then(
        (policy) => {
          loaded.set(m.id, policy);
          port.postMessage({ t: 'loaded', id: m.id } satisfies FromThread);
          return policy;
        },
        (e: unknown) => {
          port.postMessage({ t: 'loaded', id: m.id, error: describeThrown(e) } satisfies FromThread);
          return undefined;
        },
      );
      loading.set(m.id, p);
      return;
    }
    case 'drop':
      loaded.delete(m.id);
      loading.delete(m.id);
      return;
    case 'eval': {
      const policy = loaded.get(m.p);
      if (policy) {
        port.postMessage({ t: 'done', job: m.job, results: run(policy, m) } satisfies FromThread);
        return;
      }
      void (loading.get(m.p) ?? Promise.resolve(undefined)).then((p) => {
        const results = p ? run(p, m) : [{ ok: false as const, code: 'eval_failed', message: 'the policy could not be loaded in the evaluation thread' }];
        port.postMessage({ t: 'done', job: m.job, results } satisfies FromThread);
      });
      return;
    }
  }
});
