/**
 * The decision-log pipeline's thread: masking (a wasm evaluation of the
 * policy's mask entrypoint), serialization and the sinks run here, on the
 * other core, so logging costs the request path one JSON.stringify and a
 * postMessage. Loads each policy revision it is told about, so every event is
 * masked by the revision that decided it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DecisionLogConfig } from '../config/config.schema.js';
import { WasmPolicy } from '../evaluator/wasm-policy.js';
import type { DecisionEvent } from './decision-event.js';
import { applyMask, type MaskRule } from './masking.js';
import { FileSink, HttpSink, StdoutSink, type DecisionSink } from './sinks.js';
import { MASK_ENTRYPOINT, type FromWorker, type ToWorker } from './audit-protocol.js';

const KEEP_REVISIONS = 4;

const port = parentPort!;
const cfg = (workerData as { config: DecisionLogConfig }).config;
const sinks: DecisionSink[] = [];
if (cfg.stdout) sinks.push(new StdoutSink());
if (cfg.file) sinks.push(new FileSink(cfg.file, cfg.buffer_max_events));
if (cfg.http) sinks.push(new HttpSink(cfg.http));

const policies = new Map<string, Promise<WasmPolicy | undefined>>();
let processed = 0;
let failures = 0;
let lastError: string | null = null;

function send(m: FromWorker): void {
  port.postMessage(m);
}

function mask(event: DecisionEvent, policy: WasmPolicy | undefined): void {
  if (!policy?.entrypoints.includes(MASK_ENTRYPOINT)) return;
  let rules: MaskRule[];
  try {
    const out = policy.evaluate(MASK_ENTRYPOINT, { input: event.input, result: event.result }, { nowNs: Date.parse(event.timestamp) * 1e6 });
    rules = Array.isArray(out) ? (out as MaskRule[]) : [];
  } catch (e) {
    // Fail closed for privacy: without a working mask, log neither input nor result.
    lastError = `mask evaluation failed for ${event.decision_id}: ${(e as Error).message ?? String(e)}`;
    delete event.input;
    delete event.result;
    event.erased = ['/input', '/result'];
    return;
  }
  if (rules.length === 0) return;
  const m = applyMask({ input: event.input, result: event.result }, rules);
  event.input = m.input as Record<string, unknown> | undefined;
  event.result = m.result;
  if (m.erased.length) event.erased = m.erased;
  if (m.masked.length) event.masked = m.masked;
}

async function handleEvent(revision: string | null, line: string): Promise<void> {
  try {
    const policy = revision ? await policies.get(revision) : undefined;
    if (policy?.entrypoints.includes(MASK_ENTRYPOINT)) {
      const event = JSON.parse(line) as DecisionEvent;
      mask(event, policy);
      line = JSON.stringify(event);
    } else if (revision && !policies.has(revision)) {
      // A revision we were never given cannot be masked: keep nothing sensitive.
      const event = JSON.parse(line) as DecisionEvent;
      delete event.input;
      delete event.result;
      event.erased = ['/input', '/result'];
      line = JSON.stringify(event);
    }
    for (const s of sinks) s.offer(line);
  } catch (e) {
    failures++;
    lastError = (e as Error).message;
  } finally {
    processed++;
  }
}

// Events are handled strictly in arrival order: each waits for the one before.
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'policy': {
      if (!policies.has(m.revision)) {
        policies.set(
          m.revision,
          WasmPolicy.load(m.wasm, m.data, m.options).catch((e: unknown) => {
            lastError = `revision ${m.revision} could not be loaded for masking: ${(e as Error).message}`;
            return undefined;
          }),
        );
        while (policies.size > KEEP_REVISIONS) policies.delete(policies.keys().next().value as string);
      }
      break;
    }
    case 'events':
      chain = chain.then(async () => {
        for (const e of m.items) await handleEvent(e.revision, e.line);
      });
      break;
    case 'flush':
      chain = chain.then(async () => {
        await Promise.all(sinks.map((s) => s.flush()));
        send({ t: 'flushed', id: m.id });
      });
      break;
    case 'close':
      chain = chain.then(async () => {
        await Promise.all(sinks.map((s) => s.close()));
        send({ t: 'stats', processed, failures, last_error: lastError, sinks: sinks.map((s) => s.stats()) });
        send({ t: 'closed' });
      });
      break;
  }
});

const timer = setInterval(() => send({ t: 'stats', processed, failures, last_error: lastError, sinks: sinks.map((s) => s.stats()) }), 250);
timer.unref();
