/** Decisions per second over time, allow and each deny code as its own series (uPlot, drawn on canvas). */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { RateBucket } from '../types.js';

const PALETTE = ['#b3261e', '#e8710a', '#9334e6', '#c5221f', '#f29900', '#a142f4', '#d01884', '#795548'];

function seconds(t: number | string): number {
  if (typeof t === 'number') return t > 1e12 ? t / 1000 : t;
  return Date.parse(t) / 1000;
}

/** Series data for uPlot from the overview's buckets, per second. */
export function toSeries(buckets: RateBucket[], bucketS: number): { codes: string[]; data: uPlot.AlignedData } {
  const codes = [...new Set(buckets.flatMap((b) => Object.keys(b.deny ?? {})))].sort();
  const per = (n: number) => n / (bucketS || 1);
  const xs = buckets.map((b) => seconds(b.t));
  const total = buckets.map((b) => per(b.allow + Object.values(b.deny ?? {}).reduce((a, n) => a + n, 0)));
  const allow = buckets.map((b) => per(b.allow));
  const deny = codes.map((c) => buckets.map((b) => per(b.deny?.[c] ?? 0)));
  return { codes, data: [xs, total, allow, ...deny] };
}

/** The chart; a text table of the same numbers follows it for screen readers. */
export function RateChart({ buckets, bucketS }: { buckets: RateBucket[]; bucketS: number }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const { codes, data } = toSeries(buckets, bucketS);
    const opts: uPlot.Options = {
      width: Math.max(320, host.clientWidth),
      height: 260,
      scales: { x: { time: true } },
      axes: [{}, { label: 'decisions / s' }],
      series: [
        {},
        { label: 'all', stroke: '#5f6368', width: 1, dash: [4, 4] },
        { label: 'allow', stroke: '#188038', width: 2 },
        ...codes.map((c, i) => ({ label: `deny ${c}`, stroke: PALETTE[i % PALETTE.length], width: 2 })),
      ],
    };
    const plot = new uPlot(opts, data, host);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(320, host.clientWidth), height: 260 }));
    ro.observe(host);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [buckets, bucketS]);
  return <div ref={el} class="chart" role="img" aria-label="Decisions per second over time, allow and deny by code" />;
}
