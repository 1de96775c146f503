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
import { applyMask, eraseInputAndResult, type MaskRule } from './masking.js';
import { PostgresSink } from './postgres-sink.js';
import { FileSink, HttpSink, StdoutSink, type DecisionSink } from './sinks.js';
import { MASK_ENTRYPOINT, type FromWorker, type ToWorker } from './audit-protocol.js';

const KEEP_REVISIONS = 4;

const port = parentPort!;
const { config: cfg, instanceId } = workerData as { config: DecisionLogConfig; instanceId?: string };
const sinks: DecisionSink[] = [];
if (cfg.stdout) sinks.push(new StdoutSink());
if (cfg.file) sinks.push(new FileSink(cfg.file, cfg.buffer_max_events));
if (cfg.http) sinks.push(new HttpSink(cfg.http));
if (cfg.postgres) sinks.push(new PostgresSink(cfg.postgres, instanceId ?? 'toolgate'));
// Events whose token never verified: their own file when there is one, else the sinks that are not files
// (the request thread has already capped them in size and rate).
const unverifiedSinks: DecisionSink[] = cfg.unverified?.file
  ? [new FileSink(cfg.unverified.file, cfg.buffer_max_events, 'unverified_file')]
  : sinks.filter((s) => s.name !== 'file');
const allSinks = [...new Set([...sinks, ...unverifiedSinks])];

const policies = new Map<string, Promise<WasmPolicy | undefined>>();
let processed = 0;
let failures = 0;
let lastError: string | null = null;

function send(m: FromWorker): void {
  port.postMessage(m);
}

/**
 * Masks one event with its revision's mask entrypoint. An undefined mask (no
 * rule applies to this event) masks nothing, as in OPA; a mask that throws or
 * answers anything but an array erases input and result.
 */
function mask(event: DecisionEvent, policy: WasmPolicy): void {
  let out: unknown;
  try {
    out = policy.evaluate(MASK_ENTRYPOINT, { input: event.input, result: event.result }, { nowNs: Date.parse(event.timestamp) * 1e6 });
  } catch (e) {
    lastError = `mask evaluation failed for ${event.decision_id}: ${(e as Error).message ?? String(e)}`;
    eraseInputAndResult(event);
    return;
  }
  if (out === undefined) return;
  if (!Array.isArray(out)) {
    lastError = `mask for ${event.decision_id} answered ${typeof out}, not an array of rules`;
    eraseInputAndResult(event);
    return;
  }
  if (out.length === 0) return;
  const m = applyMask({ input: event.input, result: event.result }, out as MaskRule[]);
  event.input = m.input as Record<string, unknown> | undefined;
  event.result = m.result;
  if (m.erased.length) event.erased = m.erased;
  if (m.masked.length) event.masked = m.masked;
}

async function handleEvent(revision: string | null, line: string, unverified?: boolean): Promise<void> {
  try {
    // Looked up before any await, so a revision evicted meanwhile still counts as known.
    const pending = revision ? policies.get(revision) : undefined;
    const policy = await pending;
    if (revision && !policy) {
      // A revision we were never given, or one that failed to load here, cannot be masked: keep nothing sensitive.
      const event = JSON.parse(line) as DecisionEvent;
      eraseInputAndResult(event);
      line = JSON.stringify(event);
    } else if (policy?.entrypoints.includes(MASK_ENTRYPOINT)) {
      const event = JSON.parse(line) as DecisionEvent;
      mask(event, policy);
      line = JSON.stringify(event);
    }
    for (const s of unverified ? unverifiedSinks : sinks) s.offer(line);
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
        for (const e of m.items) await handleEvent(e.revision, e.line, e.unverified);
      });
      break;
    case 'flush':
      chain = chain.then(async () => {
        await Promise.all(allSinks.map((s) => s.flush()));
        // Stats first, so whoever awaited the flush also sees its counters and errors.
        sendStats();
        send({ t: 'flushed', id: m.id });
      });
      break;
    case 'close':
      chain = chain.then(async () => {
        await Promise.all(allSinks.map((s) => s.close()));
        sendStats();
        send({ t: 'closed' });
      });
      break;
  }
});

function sendStats(): void {
  send({ t: 'stats', processed, failures, last_error: lastError, sinks: allSinks.map((s) => s.stats()) });
}

const timer = setInterval(sendStats, 250);
timer.unref();
