import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FileSinkConfig, HttpSinkConfig } from '../config/config.schema.js';

/** Counters a sink reports for metrics and status. */
export interface SinkStats {
  name: string;
  buffered: number;
  written: number;
  dropped: number;
  last_error: string | null;
}

/** A destination for serialized decision events. `offer` never blocks and never throws. */
export interface DecisionSink {
  readonly name: string;
  offer(line: string): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): SinkStats;
}

/** JSON lines on stdout. */
export class StdoutSink implements DecisionSink {
  readonly name = 'stdout';
  private written = 0;
  offer(line: string): void {
    process.stdout.write(`${line}\n`);
    this.written++;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): SinkStats {
    return { name: this.name, buffered: 0, written: this.written, dropped: 0, last_error: null };
  }
}

/**
 * JSON lines in a file, appended in batches off the request path, rotated by
 * size (path → path.1 → … → path.N). A full buffer drops new events and
 * counts them rather than slowing decisions.
 */
export class FileSink implements DecisionSink {
  private buffer: string[] = [];
  private size = -1;
  private written = 0;
  private dropped = 0;
  private lastError: string | null = null;
  private flushing?: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cfg: FileSinkConfig,
    private readonly maxBuffered: number,
    readonly name = 'file',
  ) {
    this.timer = setInterval(() => void this.flush(), 100);
    this.timer.unref();
  }

  offer(line: string): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(line);
  }

  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const lines = this.buffer;
      this.buffer = [];
      const chunk = lines.join('\n') + '\n';
      try {
        if (this.size < 0) {
          await mkdir(path.dirname(this.cfg.path), { recursive: true });
          this.size = (await stat(this.cfg.path).catch(() => ({ size: 0 }))).size;
        }
        const bytes = Buffer.byteLength(chunk);
        if (this.size > 0 && this.size + bytes > this.cfg.max_bytes) await this.rotate();
        await appendFile(this.cfg.path, chunk, { mode: 0o600 });
        this.size += bytes;
        this.written += lines.length;
        this.lastError = null;
      } catch (e) {
        this.lastError = (e as Error).message;
        this.dropped += lines.length;
        this.size = -1;
        return;
      }
    }
  }

  private async rotate(): Promise<void> {
    const p = this.cfg.path;
    await rm(`${p}.${this.cfg.max_files}`, { force: true });
    for (let i = this.cfg.max_files - 1; i >= 1; i--) {
      await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(() => undefined);
    }
    await rename(p, `${p}.1`);
    this.size = 0;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  stats(): SinkStats {
    return { name: this.name, buffered: this.buffer.length, written: this.written, dropped: this.dropped, last_error: this.lastError };
  }
}

/** What a batching sink needs to know about its batches and retries. */
export interface BatchingOptions {
  batch_max_events: number;
  buffer_max_events: number;
  flush_interval_ms: number;
  max_backoff_ms: number;
}

/**
 * A sink that delivers events in batches (size or interval): failed batches
 * stay at the head of a bounded buffer and are retried with exponential
 * backoff; when the buffer is full, new events are dropped and counted. One
 * delivery runs at a time. Subclasses say how a batch is delivered.
 */
export abstract class BatchingSink implements DecisionSink {
  abstract readonly name: string;
  protected buffer: string[] = [];
  protected written = 0;
  protected dropped = 0;
  protected lastError: string | null = null;
  protected backoffMs = 0;
  private nextAttempt = 0;
  private sending?: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly batching: BatchingOptions) {
    this.timer = setInterval(() => void this.flush(), batching.flush_interval_ms);
    this.timer.unref();
  }

  /** Delivers one batch; resolves to how many of its events were filed, throws to retry the batch later. */
  protected abstract deliver(batch: string[]): Promise<number>;

  offer(line: string): void {
    if (this.buffer.length >= this.batching.buffer_max_events) {
      this.dropped++;
      return;
    }
    this.buffer.push(line);
    if (this.buffer.length >= this.batching.batch_max_events) void this.flush();
  }

  flush(force = false): Promise<void> {
    if (!force && Date.now() < this.nextAttempt) return Promise.resolve();
    this.sending ??= this.send().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async send(): Promise<void> {
    while (this.buffer.length > 0) {
      const n = Math.min(this.buffer.length, this.batching.batch_max_events);
      try {
        this.written += await this.deliver(this.buffer.slice(0, n));
      } catch (e) {
        this.lastError = (e as Error).message;
        this.backoffMs = Math.min(this.batching.max_backoff_ms, this.backoffMs ? this.backoffMs * 2 : 100);
        this.nextAttempt = Date.now() + this.backoffMs;
        return;
      }
      this.buffer.splice(0, n);
      this.backoffMs = 0;
      this.nextAttempt = 0;
      this.lastError = null;
    }
  }

  /** Stops the interval and tries to deliver what is left until `timeoutMs` has passed. */
  protected async drain(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length > 0 && Date.now() < deadline) {
      await this.flush(true);
      if (this.buffer.length > 0) await new Promise((r) => setTimeout(r, Math.min(200, this.backoffMs || 50)));
    }
  }

  abstract close(): Promise<void>;

  stats(): SinkStats {
    return { name: this.name, buffered: this.buffer.length, written: this.written, dropped: this.dropped, last_error: this.lastError };
  }
}

/**
 * OPA's decision-log upload: batches POSTed as gzip-compressed JSON arrays,
 * retried with backoff (BatchingSink). close() tries to deliver what is left
 * within the timeout.
 */
export class HttpSink extends BatchingSink {
  readonly name = 'http';

  constructor(private readonly cfg: HttpSinkConfig) {
    super(cfg);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const body = gzipSync(Buffer.from(`[${batch.join(',')}]`));
    const res = await fetch(this.cfg.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        ...(this.cfg.bearer_token ? { authorization: `Bearer ${this.cfg.bearer_token}` } : {}),
      },
      body,
      signal: AbortSignal.timeout(this.cfg.timeout_ms),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 300) throw new Error(`collector answered ${res.status}`);
    return batch.length;
  }

  close(): Promise<void> {
    return this.drain(this.cfg.timeout_ms);
  }
}
