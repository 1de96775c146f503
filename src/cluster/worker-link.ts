import { Logger } from '@nestjs/common';
import type { Registry } from 'prom-client';
import { describeThrown, StoreUnavailableError } from '../common/errors.js';
import type { BundleFiles } from '../policy-compiler/bundle-archive.js';
import type { PolicyStore } from '../policy-store/policy-store.service.js';
import type { Revocation, RevocationService } from '../token/revocation.service.js';
import { isToolgateMessage, type BundleMessage, type ToPrimary, type ToWorker, type WorkerRequest } from './protocol.js';

/** An admin operation the primary refused (e.g. an unknown revocation id), with the HTTP status it maps to. */
export class PrimaryRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * A worker's side of the cluster: set only inside a node:cluster worker. The
 * policy store, revocation service and health controller consult it (one line
 * each) to take policy from the primary, route admin writes through it, and
 * answer readiness and metrics for the whole cluster.
 */
export class WorkerLink {
  private readonly log = new Logger('WorkerLink');
  private store?: PolicyStore;
  private revocations?: RevocationService;
  private registry?: Registry;
  private pendingRefresh: number[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readiness = { ready: 0, expected: 1 };
  /** Bundles are applied one at a time, newest last; an older one never overtakes. */
  private policyChain: Promise<unknown> = Promise.resolve();
  private promote?: () => void;
  /** Resolves when the primary promotes this spare to a serving worker. */
  readonly promoted = new Promise<void>((resolve) => (this.promote = resolve));

  constructor(readonly slot: number) {
    process.on('message', (m: unknown) => {
      if (isToolgateMessage(m)) this.onMessage(m as ToWorker);
    });
  }

  send(m: ToPrimary): void {
    // A worker whose primary has gone exits (node:cluster disconnects it); a send then is moot.
    if (process.connected) process.send!(m);
  }

  /** Called by the policy store at bootstrap instead of building, fetching or watching. */
  attachPolicyStore(store: PolicyStore): void {
    this.store = store;
    this.send({ t: 'tg:hello' });
  }

  /** Called once the app exists: changes the primary announces are reloaded from the store, metrics come from its registry. */
  attach(revocations: RevocationService, registry: Registry): void {
    this.revocations = revocations;
    this.registry = registry;
    const pending = this.pendingRefresh;
    this.pendingRefresh = [];
    for (const id of pending) void this.refreshRevocations(id);
  }

  /** The primary writes every revocation (one writer), and every worker has reloaded before this resolves. */
  addRevocation(rule: Omit<Revocation, 'id' | 'created_at'>): Promise<Revocation> {
    return this.revocationRequest(this.request({ op: 'revocation.add', rule }) as Promise<Revocation>);
  }

  /** False when the primary knows no rule with that id. */
  removeRevocation(id: string): Promise<boolean> {
    return this.revocationRequest(this.request({ op: 'revocation.remove', id }) as Promise<boolean>);
  }

  /** A revocation the primary could not store or confirm everywhere is the admin's 503, never a 500 or a 201. */
  private async revocationRequest<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      throw new StoreUnavailableError('revocation_store_unavailable', describeThrown(e));
    }
  }

  /** Prometheus text for every worker (and the primary's own cluster metrics). */
  clusterMetrics(): Promise<string> {
    return this.request({ op: 'metrics' }) as Promise<string>;
  }

  /** Why the cluster is not ready, or undefined when every worker has a policy. */
  notReady(): string | undefined {
    const { ready, expected } = this.readiness;
    return ready >= expected ? undefined : `${ready} of ${expected} workers have a policy loaded`;
  }

  /** What /v1/status adds in a worker. */
  status(): { worker: number; pid: number; workers_ready: number; workers: number } {
    return { worker: this.slot, pid: process.pid, workers_ready: this.readiness.ready, workers: this.readiness.expected };
  }

  private request(req: WorkerRequest): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.send({ t: 'tg:request', id, req });
    });
  }

  private onMessage(m: ToWorker): void {
    switch (m.t) {
      case 'tg:policy':
        this.policyChain = this.policyChain.then(() => this.applyBundle(m));
        return;
      case 'tg:response': {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.ok) w?.resolve(m.value);
        else w?.reject(new PrimaryRequestError(m.error, m.status));
        return;
      }
      case 'tg:revocations-changed':
        if (this.revocations) void this.refreshRevocations(m.id);
        else this.pendingRefresh.push(m.id);
        return;
      case 'tg:readiness':
        this.readiness = { ready: m.ready, expected: m.expected };
        return;
      case 'tg:promote':
        this.promote?.();
        return;
      case 'tg:metrics-request':
        void this.registry?.getMetricsAsJSON().then((metrics) => this.send({ t: 'tg:metrics', id: m.id, metrics }));
        return;
    }
  }

  private async refreshRevocations(id: number): Promise<void> {
    try {
      await this.revocations!.refresh();
    } catch (e) {
      // Not acknowledged: the primary answers the admin call with an error rather than claim a revocation is everywhere.
      this.log.error(`could not reload revocations: ${describeThrown(e)}`);
      return;
    }
    this.send({ t: 'tg:ack', id });
  }

  private async applyBundle(m: BundleMessage): Promise<void> {
    const store = this.store;
    if (!store) return;
    const files: BundleFiles = new Map(m.files.map(([p, b]) => [p, Buffer.from(b.buffer, b.byteOffset, b.byteLength)]));
    // Verified by the primary (tests, parity, signature); the worker only loads the wasm and swaps.
    const active = await store.attempt(m.source, () => Promise.resolve(files));
    if (active && active.contentHash === m.contentHash) {
      this.send({ t: 'tg:active', contentHash: active.contentHash, revision: active.revision, activatedAt: m.activatedAt });
    }
  }
}

let link: WorkerLink | undefined;

/** The worker's link to its primary, or undefined outside a cluster worker. */
export function workerLink(): WorkerLink | undefined {
  return link;
}

/** Installs the link; called first thing in a worker, before the app exists, so no message is missed. */
export function installWorkerLink(slot: number): WorkerLink {
  link = new WorkerLink(slot);
  return link;
}
