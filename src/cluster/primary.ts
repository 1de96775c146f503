import cluster, { type Worker } from 'node:cluster';
import { Logger } from '@nestjs/common';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describeThrown, StoreUnavailableError } from '../common/errors.js';
import type { ToolgateConfig } from '../config/config.schema.js';
import type { ActivePolicy } from '../policy-store/active-policy.js';
import { PolicyStore } from '../policy-store/policy-store.service.js';
import { RevocationService } from '../token/revocation.service.js';
import { isToolgateMessage, SLOT_ENV, SPARE_ENV, type BundleMessage, type ToPrimary, type ToWorker, type WorkerRequest } from './protocol.js';
import { heartbeatEvery } from './worker.js';
import type { ClusterPlan } from './workers-config.js';

/** One worker position; a replacement takes over the slot (and its decision log file). */
interface Slot {
  index: number;
  /** The spare slot's worker boots and loads the policy but listens only once promoted. */
  spare: boolean;
  listening: boolean;
  worker?: Worker;
  /** Content hash the worker answers with; undefined until its first activation. */
  contentHash?: string;
  lastBeat: number;
  /** Set when the worker was killed or died, to time its replacement. */
  lostAt?: number;
  failures: number;
}

/** The primary's own metrics, appended to the aggregate of the workers'. */
class ClusterMetrics {
  readonly registry = new Registry();
  readonly restarts = new Counter({
    name: 'toolgate_cluster_worker_restarts_total',
    help: 'Workers replaced, by reason (watchdog: event loop blocked past limits.evaluation_ms; exit: the process died)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly swap = new Histogram({
    name: 'toolgate_cluster_swap_seconds',
    help: 'From activation in the primary to a worker answering with the new revision',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly replacement = new Histogram({
    name: 'toolgate_cluster_replacement_seconds',
    help: 'From a worker lost to its replacement answering with a policy',
    buckets: [0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [this.registry],
  });
  readonly ready = new Gauge({ name: 'toolgate_cluster_workers_ready', help: 'Workers with a policy loaded', registers: [this.registry] });
  readonly expected = new Gauge({ name: 'toolgate_cluster_workers', help: 'Configured workers', registers: [this.registry] });
  readonly spare = new Gauge({ name: 'toolgate_cluster_spare_ready', help: 'Whether a warm spare with the policy is waiting to take a lost worker\'s place (1) or not (0)', registers: [this.registry] });
}

/**
 * The cluster primary: it builds, tests and verifies each policy revision once
 * (the same PolicyStore a single process uses), hands the verified bundle to
 * every worker, is the one writer of revocations, aggregates metrics, and runs
 * the watchdog. It never answers a decision; node:cluster gives the workers the
 * connections.
 */
export class Primary {
  private readonly log = new Logger('cluster');
  private readonly store: PolicyStore;
  private readonly revocations: RevocationService;
  private readonly scrapes = new Map<number, { pending: Set<number>; parts: unknown[][]; done: () => void }>();
  private readonly metrics = new ClusterMetrics();
  private readonly slots: Slot[];
  private readonly acks = new Map<number, { pending: Set<number>; done: () => void }>();
  private bundle?: BundleMessage;
  private listening = false;
  private stopping = false;
  private nextAck = 1;
  private watchdog?: NodeJS.Timeout;
  /** Worker ids the watchdog has killed, for the restart reason. */
  private readonly killedByWatchdog = new Set<number>();

  constructor(
    config: ToolgateConfig,
    private readonly plan: Required<ClusterPlan>,
    private readonly configFile: string,
  ) {
    this.store = new PolicyStore(config);
    this.revocations = new RevocationService(config);
    // One slot more than workers: the warm spare that takes a lost worker's place at once.
    this.slots = Array.from({ length: plan.workers + 1 }, (_, index) => ({ index, spare: index === plan.workers, listening: false, lastBeat: 0, failures: 0 }));
    this.metrics.expected.set(plan.workers);
  }

  async start(): Promise<void> {
    cluster.setupPrimary({ serialization: 'advanced' });
    this.store.onActivation((result, active) => {
      if (result === 'success' && active) this.publish(active);
    });
    // Workers boot while the policy builds; each gets the bundle as soon as both are done.
    for (const s of this.slots) this.fork(s);
    await this.revocations.onApplicationBootstrap();
    await this.store.onApplicationBootstrap();
    this.startWatchdog();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void this.stop());
  }

  private fork(s: Slot): void {
    const w = cluster.fork({ [SLOT_ENV]: String(s.index), [SPARE_ENV]: s.spare ? '1' : '0' });
    s.worker = w;
    s.listening = false;
    s.contentHash = undefined;
    s.lastBeat = 0;
    w.on('message', (m: unknown) => {
      if (isToolgateMessage(m)) this.onMessage(s, w, m as ToPrimary);
    });
    w.on('exit', (code, signal) => this.onExit(s, w, code, signal));
    // An IPC write to a worker that is exiting emits 'error' (EPIPE); unhandled, it would crash the primary.
    w.on('error', (e) => this.log.warn(`worker ${w.id}: ${describeThrown(e)}`));
  }

  /**
   * A worker can die between the isConnected check and the write (EPIPE). That must never
   * take the primary down: the write error is swallowed here and the 'exit' handler
   * replaces the worker.
   */
  private send(w: Worker, m: ToWorker): void {
    if (!w.isConnected() || w.isDead()) return;
    try {
      w.send(m, undefined, () => undefined);
    } catch {
      // the channel closed under us; onExit handles the worker
    }
  }

  private onMessage(s: Slot, w: Worker, m: ToPrimary): void {
    if (s.worker !== w) return;
    switch (m.t) {
      case 'tg:hello':
        if (this.bundle) this.send(w, this.bundle);
        return;
      case 'tg:heartbeat':
        s.lastBeat = Date.now();
        return;
      case 'tg:listening':
        s.listening = true;
        this.replaced(s, w);
        this.broadcastReadiness();
        if (!this.listening) {
          this.listening = true;
          this.log.log(`listening on http://${m.host}:${m.port} (config ${this.configFile}, ${this.plan.workers} workers, limits.evaluation_ms ${this.plan.evaluationMs})`);
        }
        return;
      case 'tg:active':
        return this.onActive(s, w, m);
      case 'tg:request':
        void this.handle(m.req).then(
          (value) => this.send(w, { t: 'tg:response', id: m.id, ok: true, value }),
          (e: unknown) => this.send(w, { t: 'tg:response', id: m.id, ok: false, error: describeThrown(e) }),
        );
        return;
      case 'tg:ack':
        return this.acked(m.id, w.id);
      case 'tg:metrics': {
        const sc = this.scrapes.get(m.id);
        if (!sc?.pending.delete(w.id)) return;
        sc.parts.push(m.metrics);
        if (sc.pending.size === 0) sc.done();
        return;
      }
    }
  }

  private onActive(s: Slot, w: Worker, m: Extract<ToPrimary, { t: 'tg:active' }>): void {
    if (s.contentHash === m.contentHash) return;
    s.contentHash = m.contentHash;
    const ms = Date.now() - m.activatedAt;
    if (m.contentHash === this.bundle?.contentHash) this.metrics.swap.observe(ms / 1000);
    s.failures = 0;
    this.log.log(`${s.spare ? 'spare' : 'worker'} ${s.index} (pid ${w.process.pid}) answers with revision ${m.revision} (${m.contentHash}), ${ms} ms after activation`);
    this.replaced(s, w);
    this.broadcastReadiness();
  }

  /** Logs and measures a slot that took a lost worker's place, once it listens with a policy. */
  private replaced(s: Slot, w: Worker): void {
    if (s.lostAt === undefined || !s.listening || !s.contentHash) return;
    const after = Date.now() - s.lostAt;
    this.metrics.replacement.observe(after / 1000);
    this.log.log(`worker ${s.index} (pid ${w.process.pid}) replaced: answering ${after} ms after the previous one was lost`);
    s.lostAt = undefined;
  }

  /** Hands the verified bundle to every worker; each swaps its own reference at once. */
  private publish(active: ActivePolicy): void {
    if (!active.files) return;
    this.bundle = {
      t: 'tg:policy',
      files: [...active.files],
      source: active.source,
      contentHash: active.contentHash,
      activatedAt: Date.now(),
    };
    for (const s of this.slots) if (s.worker) this.send(s.worker, this.bundle);
  }

  private async handle(req: WorkerRequest): Promise<unknown> {
    switch (req.op) {
      case 'revocation.add': {
        const rule = await this.revocations.add(req.rule);
        await this.revocationsChanged();
        return rule;
      }
      case 'revocation.remove': {
        const removed = await this.revocations.remove(req.id);
        if (removed) await this.revocationsChanged();
        return removed;
      }
      case 'metrics':
        return this.scrape();
    }
  }

  /**
   * Every worker's registry (those with a policy, so with an app), summed by
   * prom-client's AggregatorRegistry.aggregate, plus the primary's own. A worker that
   * does not answer within 2 s (stuck, or dying) is left out of this scrape rather than
   * failing it; toolgate_cluster_workers_ready says how many there are.
   */
  private async scrape(): Promise<string> {
    const id = this.nextAck++;
    const targets = this.slots.filter((s) => s.worker && s.contentHash).map((s) => s.worker!);
    const parts: unknown[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), 2000);
      const finish = () => {
        clearTimeout(timer);
        this.scrapes.delete(id);
        resolve();
      };
      this.scrapes.set(id, { pending: new Set(targets.map((w) => w.id)), parts, done: finish });
      if (targets.length === 0) finish();
      for (const w of targets) this.send(w, { t: 'tg:metrics-request', id });
    });
    const workers = AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]);
    return `${await workers.metrics()}\n${await this.metrics.registry.metrics()}`;
  }

  /**
   * Resolves when every live worker has reloaded the revocation rules; a worker that dies
   * meanwhile is not waited for (its replacement loads them at startup). A worker that does
   * not acknowledge within 5 s (its reload failed, or it is stuck) fails the admin call with
   * 503 revocation_store_unavailable: a revocation is never reported as in force everywhere
   * when it may not be.
   */
  private revocationsChanged(): Promise<void> {
    const id = this.nextAck++;
    const live = this.slots.map((s) => s.worker).filter((w): w is Worker => !!w && !w.isDead());
    if (live.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        reject(new StoreUnavailableError('revocation_store_unavailable', 'not every worker confirmed the revocation within 5 s; it is stored and will be loaded by the resync'));
      }, 5000);
      this.acks.set(id, {
        pending: new Set(live.map((w) => w.id)),
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const w of live) this.send(w, { t: 'tg:revocations-changed', id });
    });
  }

  private acked(id: number, workerId: number): void {
    const a = this.acks.get(id);
    if (!a) return;
    a.pending.delete(workerId);
    if (a.pending.size === 0) {
      this.acks.delete(id);
      a.done();
    }
  }

  private broadcastReadiness(): void {
    const ready = this.slots.filter((s) => !s.spare && s.worker && s.listening && s.contentHash).length;
    this.metrics.ready.set(ready);
    this.metrics.spare.set(this.slots.some((s) => s.spare && s.worker && s.contentHash) ? 1 : 0);
    for (const s of this.slots) if (s.worker) this.send(s.worker, { t: 'tg:readiness', ready, expected: this.plan.workers });
  }

  private onExit(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    for (const id of [...this.acks.keys()]) this.acked(id, w.id);
    for (const sc of this.scrapes.values()) if (sc.pending.delete(w.id) && sc.pending.size === 0) sc.done();
    if (s.worker !== w) return;
    const wasReady = s.contentHash !== undefined;
    s.worker = undefined;
    s.contentHash = undefined;
    s.listening = false;
    if (this.stopping) return this.broadcastReadiness();
    const byWatchdog = this.killedByWatchdog.delete(w.id);
    if (wasReady) s.failures = 0;
    this.metrics.restarts.inc({ reason: byWatchdog ? 'watchdog' : 'exit' });
    if (!s.spare) {
      s.lostAt ??= Date.now();
      // The warm spare, if it has the policy, takes the place now; the lost slot becomes the new spare.
      const spare = this.slots.find((x) => x.spare && x.worker && x.contentHash);
      if (spare) {
        spare.spare = false;
        spare.lostAt = s.lostAt;
        s.spare = true;
        s.lostAt = undefined;
        this.log.warn(`worker ${s.index} lost; spare ${spare.index} (pid ${spare.worker!.process.pid}) takes its place`);
        this.send(spare.worker!, { t: 'tg:promote' });
      }
    }
    this.broadcastReadiness();
    // A worker that dies before it ever answers (a broken config, say) is retried with backoff, not in a tight loop.
    const delay = wasReady ? 0 : Math.min(5000, 100 * 2 ** s.failures++);
    this.log.warn(`worker ${s.index} (pid ${w.process.pid}) exited (${signal ?? `code ${code}`}); starting a ${s.spare ? 'new spare' : 'replacement'}${delay ? ` in ${delay} ms` : ''}`);
    setTimeout(() => {
      if (!this.stopping) this.fork(s);
    }, delay);
  }

  /**
   * A worker's heartbeat comes from its event loop; one blocked longer than the limit
   * (an evaluation that never ends) is killed with SIGKILL, which closes its connections:
   * its in-flight requests fail, none is answered. If the primary itself was held up,
   * late heartbeats prove nothing, so that round judges no one.
   */
  private startWatchdog(): void {
    const every = heartbeatEvery(this.plan.evaluationMs);
    let expected = Date.now() + every;
    this.watchdog = setInterval(() => {
      const now = Date.now();
      const late = now - expected;
      expected = now + every;
      if (late > this.plan.evaluationMs / 2) {
        for (const s of this.slots) if (s.lastBeat) s.lastBeat = now;
        return;
      }
      for (const s of this.slots) {
        const w = s.worker;
        if (!w || !s.lastBeat || this.killedByWatchdog.has(w.id)) continue;
        const silent = now - s.lastBeat;
        if (silent <= this.plan.evaluationMs) continue;
        this.killedByWatchdog.add(w.id);
        s.lostAt = now;
        this.log.error(`worker ${s.index} (pid ${w.process.pid}): event loop blocked for ${silent} ms (limits.evaluation_ms ${this.plan.evaluationMs}); killing it`);
        w.process.kill('SIGKILL');
      }
    }, every);
  }

  private async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.watchdog);
    await this.store.onApplicationShutdown();
    await this.revocations.onApplicationShutdown();
    const live = this.slots.map((s) => s.worker).filter((w): w is Worker => !!w && !w.isDead());
    await Promise.all(
      live.map(
        (w) =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => w.process.kill('SIGKILL'), 5000);
            w.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    process.exit(0);
  }
}

/** Starts the primary. */
export async function runPrimary(config: ToolgateConfig, plan: Required<ClusterPlan>, configFile: string): Promise<void> {
  await new Primary(config, plan, configFile).start();
}
