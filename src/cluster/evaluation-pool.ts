import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { describeThrown, ToolgateError } from '../common/errors.js';
import { PolicyEvalError } from '../evaluator/errors.js';
import type { WasmPolicy } from '../evaluator/wasm-policy.js';
import type { FromThread, ItemResult, ToThread } from './evaluation-protocol.js';

/** Evaluation threads per worker process: one stuck evaluation leaves the other answering. */
export const EVALUATION_THREADS = 2;
/** Revisions a thread keeps loaded (a decision started on one finishes on it). */
const KEEP_REVISIONS = 3;

/** An evaluation that did not end within `limits.evaluation_ms`: refused with 503, never an allow. */
export class EvaluationTimeoutError extends ToolgateError {
  constructor(limitMs: number) {
    super('evaluation_timeout', `policy evaluation did not finish within limits.evaluation_ms (${limitMs} ms); refused`);
  }
}

function threadUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return new URL('./evaluation-thread.js', import.meta.url);
  const compiled = path.resolve(process.cwd(), 'dist/cluster/evaluation-thread.js');
  if (!existsSync(compiled)) throw new Error(`evaluation thread not built: ${compiled} (run make build)`);
  return pathToFileURL(compiled);
}

interface Job {
  id: number;
  policy: number;
  msg: Extract<ToThread, { t: 'eval' }>;
  resolve: (r: ItemResult[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  thread?: Thread;
}

interface Thread {
  worker: Worker;
  job?: Job;
  /** Revision ids this thread has been sent. */
  knows: Set<number>;
  /** Revision ids this thread has loaded: a booting replacement gets no job while another thread can take it. */
  has: Set<number>;
}

/**
 * Policy evaluation off the event loop that reads and answers HTTP, in a cluster worker.
 * Each job runs on an idle evaluation thread; one that has not finished within
 * `limits.evaluation_ms` of being submitted is refused (EvaluationTimeoutError, 503) and,
 * if it was running, its thread is terminated (which interrupts the wasm) and replaced.
 * The event loop never waits on an evaluation, so a stuck one holds no other request,
 * on a new connection or a keep-alive one, and no worker process is lost to it.
 */
export class EvaluationPool {
  private readonly log = new Logger('evaluation');
  private readonly ids = new WeakMap<WasmPolicy, number>();
  private readonly sources = new Map<number, WasmPolicy['source']>();
  private readonly threads: Thread[] = [];
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextPolicy = 1;
  private nextJob = 1;
  private timeouts?: Counter;
  private readonly url = threadUrl();

  constructor(
    size: number,
    readonly limitMs: number,
  ) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  /** Counts refusals in the worker's registry (summed over the cluster by /metrics). */
  attachMetrics(registry: Registry): void {
    this.timeouts = new Counter({
      name: 'toolgate_evaluation_timeouts_total',
      help: 'Evaluations refused (evaluation_timeout, 503) for not finishing within limits.evaluation_ms; a running one had its thread replaced',
      registers: [registry],
    });
  }

  /** One evaluation: its value, or the PolicyEvalError the evaluation threw; EvaluationTimeoutError past the limit. */
  async evaluate(policy: WasmPolicy, entrypoint: string, input: unknown, nowNs: number): Promise<unknown> {
    const [r] = await this.submit(policy, entrypoint, [JSON.stringify(input)], nowNs, false);
    if (r.ok) return r.v;
    throw new PolicyEvalError(r.code, r.message);
  }

  /** A list's items, each evaluated on its own (a failed item is its result, not the job's); one limit for the whole list. */
  evaluateEach(policy: WasmPolicy, entrypoint: string, inputs: unknown[], nowNs: number): Promise<ItemResult[]> {
    return this.submit(policy, entrypoint, inputs.map((i) => JSON.stringify(i)), nowNs, true);
  }

  private submit(policy: WasmPolicy, e: string, inputs: string[], nowNs: number, each: boolean): Promise<ItemResult[]> {
    const p = this.policyId(policy);
    const id = this.nextJob++;
    return new Promise<ItemResult[]>((resolve, reject) => {
      const job: Job = { id, policy: p, msg: { t: 'eval', job: id, p, e, inputs, nowNs, each }, resolve, reject, timer: setTimeout(() => this.expire(job), this.limitMs) };
      this.jobs.set(id, job);
      const idle = this.idle(p);
      if (idle) this.run(idle, job);
      else this.queue.push(job);
    });
  }

  private policyId(policy: WasmPolicy): number {
    let id = this.ids.get(policy);
    if (id !== undefined) return id;
    id = this.nextPolicy++;
    this.ids.set(policy, id);
    this.sources.set(id, policy.source);
    for (const old of this.sources.keys()) {
      if (this.sources.size <= KEEP_REVISIONS) break;
      this.sources.delete(old);
      for (const t of this.threads) if (t.knows.delete(old)) t.worker.postMessage({ t: 'drop', id: old } satisfies ToThread);
    }
    return id;
  }

  /** An idle thread, preferring one that already has the revision loaded. */
  private idle(p: number): Thread | undefined {
    let any: Thread | undefined;
    let warming = false;
    for (const t of this.threads) {
      if (t.has.has(p)) {
        if (!t.job) return t;
      } else if (t.knows.has(p)) warming = true;
      if (!t.job) any ??= t;
    }
    // A job waits for a thread that has the revision rather than start on one still loading it.
    return warming && this.threads.some((t) => t.has.has(p)) ? undefined : any;
  }

  private teach(t: Thread, p: number): void {
    if (t.knows.has(p)) return;
    const s = this.sources.get(p);
    if (!s) return;
    t.knows.add(p);
    t.worker.postMessage({ t: 'load', id: p, module: s.module, data: s.data, options: s.options } satisfies ToThread);
  }

  private run(t: Thread, job: Job): void {
    this.teach(t, job.policy);
    t.job = job;
    job.thread = t;
    t.worker.postMessage(job.msg);
  }

  private next(t: Thread): void {
    const job = this.queue.shift();
    if (job) this.run(t, job);
  }

  private finish(job: Job): boolean {
    if (!this.jobs.delete(job.id)) return false;
    clearTimeout(job.timer);
    return true;
  }

  private spawn(): Thread {
    const worker = new Worker(this.url);
    worker.unref();
    const t: Thread = { worker, knows: new Set(), has: new Set() };
    this.threads.push(t);
    worker.on('message', (m: FromThread) => {
      if (m.t === 'loaded') {
        if (m.error) this.log.error(`evaluation thread could not load a revision: ${m.error}`);
        else t.has.add(m.id);
        if (!t.job) this.next(t);
        return;
      }
      const job = t.job;
      if (!job || job.id !== m.job) return;
      t.job = undefined;
      if (this.finish(job)) job.resolve(m.results);
      this.next(t);
    });
    // A thread that dies on its own (out of memory, say) fails its job closed and is replaced.
    const lost = (why: string) => {
      const i = this.threads.indexOf(t);
      if (i < 0) return;
      this.threads.splice(i, 1);
      const job = t.job;
      if (job && this.finish(job)) job.reject(new PolicyEvalError('eval_failed', `the evaluation thread stopped: ${why}`));
      this.log.error(`evaluation thread stopped (${why}); starting another`);
      this.next(this.spawn());
    };
    worker.on('error', (e) => lost(describeThrown(e)));
    worker.on('exit', (code) => lost(`exit ${code}`));
    // The newest revision, so a replacement is warm before its first job.
    const newest = [...this.sources.keys()].pop();
    if (newest !== undefined) this.teach(t, newest);
    return t;
  }

  /** The limit passed: refuse the job; a running one's thread is terminated and replaced. */
  private expire(job: Job): void {
    if (!this.finish(job)) return;
    this.timeouts?.inc();
    const t = job.thread;
    if (!t) {
      const i = this.queue.indexOf(job);
      if (i >= 0) this.queue.splice(i, 1);
      this.log.error(`evaluation waited past limits.evaluation_ms ${this.limitMs} ms for a free thread; refused (evaluation_timeout)`);
      job.reject(new EvaluationTimeoutError(this.limitMs));
      return;
    }
    const i = this.threads.indexOf(t);
    if (i >= 0) this.threads.splice(i, 1);
    t.job = undefined;
    void t.worker.terminate();
    this.log.error(`evaluation ran past limits.evaluation_ms ${this.limitMs} ms; refused (evaluation_timeout), its thread terminated and replaced`);
    job.reject(new EvaluationTimeoutError(this.limitMs));
    this.next(this.spawn());
  }
}

let pool: EvaluationPool | undefined;

/** The process's evaluation pool: set in cluster workers (where limits.evaluation_ms applies), else undefined. */
export function evaluationPool(): EvaluationPool | undefined {
  return pool;
}

export function installEvaluationPool(p: EvaluationPool): EvaluationPool {
  pool = p;
  return p;
}
