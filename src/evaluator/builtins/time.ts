/**
 * time.* for Rego under wasm. Nanosecond arguments arrive exact: the host
 * bridge hands these builtins integers beyond 2^53 as BigInt (see
 * EXACT_INTEGER_BUILTINS in host-builtins.ts). Time zones come from Intl
 * (IANA names, "UTC", "" = UTC, "Local" = the process's zone).
 */

import { formatCivil, NAMED_LAYOUTS, parseLayout } from './go-time.js';

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

interface TimeArg {
  /** Milliseconds-accurate nanoseconds, for calendar arithmetic. */
  ns: number;
  /** The exact nanoseconds within the second (0 … 999,999,999). */
  nanos: number;
  tz: string;
  layout?: string;
}

function toBig(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isFinite(v) || !Number.isInteger(v)) throw new TypeError('timestamp must be an integer');
  return BigInt(v);
}

function splitArg(x: unknown): TimeArg {
  let raw: unknown;
  let tz = 'UTC';
  let layout: string | undefined;
  if (typeof x === 'number' || typeof x === 'bigint') raw = x;
  else if (Array.isArray(x) && (typeof x[0] === 'number' || typeof x[0] === 'bigint') && (x[1] === undefined || typeof x[1] === 'string')) {
    raw = x[0];
    tz = (x[1] as string | undefined) || 'UTC';
    layout = typeof x[2] === 'string' ? x[2] : undefined;
  } else throw new TypeError('operand must be a number or [number, timezone]');
  if (typeof raw === 'number' && !Number.isFinite(raw)) throw new RangeError('timestamp too big');
  const big = toBig(raw as number | bigint);
  // OPA: "timestamp too big" beyond int64 nanoseconds.
  if (big < INT64_MIN || big > INT64_MAX) throw new RangeError('timestamp too big');
  const nanos = Number(((big % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
  const ms = (big - BigInt(nanos)) / 1_000_000n + BigInt(Math.floor(nanos / 1e6));
  return { ns: Number(ms) * 1e6, nanos, tz, layout };
}

interface Parts {
  zoneName?: string;
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
  offsetMin: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(ns: number, tz: string): Parts {
  const ms = Math.floor(ns / 1e6);
  if (tz === 'UTC') {
    const d = new Date(ms);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), weekday: d.getUTCDay(), offsetMin: 0 };
  }
  const zone = tz === 'Local' ? Intl.DateTimeFormat().resolvedOptions().timeZone : tz;
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short', timeZoneName: 'short' });
    formatters.set(zone, f);
  }
  const parts = f.formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '0';
  const p = { year: Number(get('year')), month: Number(get('month')), day: Number(get('day')), hour: Number(get('hour')), minute: Number(get('minute')), second: Number(get('second')) };
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offsetMin = Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
  const name = get('timeZoneName');
  return { ...p, weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(get('weekday')), offsetMin, zoneName: /^[A-Z]{2,5}$/.test(name) ? name : undefined };
}

export function timeDate(x: unknown): number[] {
  const { ns, tz } = splitArg(x);
  const p = partsIn(ns, tz);
  return [p.year, p.month, p.day];
}

export function timeClock(x: unknown): number[] {
  const { ns, tz } = splitArg(x);
  const p = partsIn(ns, tz);
  return [p.hour, p.minute, p.second];
}

export function timeWeekday(x: unknown): string {
  const { ns, tz } = splitArg(x);
  return WEEKDAYS[partsIn(ns, tz).weekday];
}

/** Go's AddDate: out-of-range months and days normalise (October 32 = November 1). */
export function timeAddDate(ns: unknown, years: unknown, months: unknown, days: unknown): bigint {
  if ((typeof ns !== 'number' && typeof ns !== 'bigint') || typeof years !== 'number' || typeof months !== 'number' || typeof days !== 'number') {
    throw new TypeError('operands must be numbers');
  }
  const t = splitArg(ns);
  const d = new Date(t.ns / 1e6);
  const out = Date.UTC(d.getUTCFullYear() + years, d.getUTCMonth() + months, d.getUTCDate() + days, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
  if (!Number.isFinite(out)) throw new RangeError('time outside int64 range');
  const r = BigInt(out) * 1_000_000n + BigInt(t.nanos);
  if (r < INT64_MIN || r > INT64_MAX) throw new RangeError('time outside int64 range');
  return r;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration: "1h30m", "-1.5s", "300ms"; "0" alone is zero. */
export function parseDurationNs(v: unknown): number {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  let s = v;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new TypeError('invalid duration');
  let total = 0;
  // One way to split the digits around the dot: `\d*\.?\d*` backtracks quadratically on a long input.
  const re = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[1] === '' || m[1] === '.') throw new TypeError(`invalid duration ${v}`);
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}


/** time.format(x): RFC 3339 with nanoseconds by default, or a Go layout (named or written out), in the given zone. */
export function timeFormat(x: unknown): string {
  const { ns, nanos, tz, layout } = splitArg(x);
  const p = partsIn(ns, tz);
  const yday = Math.round((Date.UTC(p.year, p.month - 1, p.day) - Date.UTC(p.year, 0, 1)) / 86400000) + 1;
  const goLayout = layout === undefined ? NAMED_LAYOUTS.RFC3339Nano : (NAMED_LAYOUTS[layout] ?? layout);
  return formatCivil(
    { ...p, nanos, yday, offsetSec: p.offsetMin * 60, zoneName: tz === 'UTC' ? 'UTC' : (p.zoneName ?? '') },
    goLayout,
  );
}

/** time.parse_ns(layout, value): Go's time.Parse, exact nanoseconds; throws outside int64. */
export function timeParseNs(layout: unknown, value: unknown): bigint {
  if (typeof layout !== 'string' || typeof value !== 'string') throw new TypeError('operands must be strings');
  return parseLayout(NAMED_LAYOUTS[layout] ?? layout, value);
}

/** time.diff(a, b): [years, months, days, hours, minutes, seconds] between two instants, in a's zone. */
export function timeDiff(a: unknown, b: unknown): number[] {
  const x = splitArg(a);
  const y = splitArg(b);
  const [lo, hi] = x.ns <= y.ns ? [x.ns, y.ns] : [y.ns, x.ns];
  const p1 = partsIn(lo, x.tz);
  const p2 = partsIn(hi, x.tz);
  let year = p2.year - p1.year;
  let month = p2.month - p1.month;
  let day = p2.day - p1.day;
  let hour = p2.hour - p1.hour;
  let min = p2.minute - p1.minute;
  let sec = p2.second - p1.second;
  if (sec < 0) {
    sec += 60;
    min--;
  }
  if (min < 0) {
    min += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    // Days in p1's month: day 32 of it normalises into the next month.
    day += 32 - new Date(Date.UTC(p1.year, p1.month - 1, 32)).getUTCDate();
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [year, month, day, hour, min, sec];
}
