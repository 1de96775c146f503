/**
 * time.* for Rego under wasm. Nanosecond values travel as JS numbers
 * (doubles), so values beyond 2^53 ns (after mid-April 1970 plus ~104 days)
 * keep about microsecond precision. Time zones come from Intl (IANA names,
 * "UTC", "" = UTC, "Local" = the process's zone).
 */

import { formatCivil, NAMED_LAYOUTS, parseLayout } from './go-time.js';

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const INT64_LIMIT = 2 ** 63;

function splitArg(x: unknown): { ns: number; tz: string; layout?: string } {
  const r = splitArgUnchecked(x);
  // OPA: "timestamp too big" beyond int64 nanoseconds.
  if (!Number.isFinite(r.ns) || Math.abs(r.ns) > INT64_LIMIT) throw new RangeError('timestamp too big');
  return r;
}

function splitArgUnchecked(x: unknown): { ns: number; tz: string; layout?: string } {
  if (typeof x === 'number') return { ns: x, tz: 'UTC' };
  if (Array.isArray(x) && typeof x[0] === 'number' && (x[1] === undefined || typeof x[1] === 'string')) {
    return { ns: x[0], tz: (x[1] as string | undefined) || 'UTC', layout: typeof x[2] === 'string' ? x[2] : undefined };
  }
  throw new TypeError('operand must be a number or [number, timezone]');
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
  const get = (type: string) => f!.formatToParts(new Date(ms)).find((p) => p.type === type)?.value ?? '0';
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
export function timeAddDate(ns: unknown, years: unknown, months: unknown, days: unknown): number {
  if (typeof ns !== 'number' || typeof years !== 'number' || typeof months !== 'number' || typeof days !== 'number') throw new TypeError('operands must be numbers');
  const ms = Math.floor(ns / 1e6);
  const sub = ns - ms * 1e6;
  const d = new Date(ms);
  const out = Date.UTC(d.getUTCFullYear() + years, d.getUTCMonth() + months, d.getUTCDate() + days, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  const r = out * 1e6 + sub;
  if (!Number.isFinite(r) || Math.abs(r) > 9.223372036854776e18) throw new RangeError('time outside int64 range');
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
  const re = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/;
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
  const { ns, tz, layout } = splitArg(x);
  const p = partsIn(ns, tz);
  const nanos = Math.round(((ns % 1e9) + 1e9) % 1e9) % 1e9;
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
