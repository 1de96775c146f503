import type { Metric, Registry } from 'prom-client';

/** One line of the exposition, as prom-client's metrics give them to the registry. */
interface ExpositionValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** One label value's buckets: plain numbers, so an observation is a loop and three additions. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Per bucket (not cumulative); the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram with one label, for the decision path. prom-client's
 * Histogram validates and hashes the label object and turns the bucket bound
 * into a property name on every `observe`; under load that measured about
 * 3 µs of CPU per decision. Here the caller looks its series up once per label
 * value (`series`) and `observe` only finds the bucket; the exposition is
 * built when the registry is read, in the shape prom-client's own Histogram
 * gives (`_bucket` with `le`, `_sum`, `_count`; aggregator `sum`, so the
 * cluster primary's AggregatorRegistry adds the workers' series up).
 */
export class BucketHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // The registry only calls get() and reset(); it types its argument as its own metric classes.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label value (created at its first use, kept for the process's life). */
  series(value: string): HistogramSeries {
    let s = this.all.get(value);
    if (!s) {
      s = { labels: { [this.labelName]: value }, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.all.set(value, s);
    }
    return s;
  }

  /** Counts one observation of `value` (seconds) in `s`. */
  observe(s: HistogramSeries, value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** The exposition, as prom-client's Histogram.get() shapes it. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: ExpositionValue[]; aggregator: 'sum' }> {
    const values: ExpositionValue[] = [];
    for (const s of this.all.values()) {
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { ...s.labels, le: i < this.bounds.length ? this.bounds[i] : '+Inf' }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const s of this.all.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
