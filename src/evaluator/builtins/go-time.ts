/**
 * Go's reference-time layouts ("2006-01-02T15:04:05Z07:00", "Mon Jan _2 …")
 * for time.format and time.parse_ns, written from Go's documented layout
 * elements, plus OPA's named layouts (RFC3339, RFC1123Z, DateTime, …).
 * Parsing works in exact nanoseconds (BigInt) so the int64 range is checked
 * as OPA does ("time outside of valid range").
 */

export const NAMED_LAYOUTS: Readonly<Record<string, string>> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
  Kitchen: '3:04PM',
  Stamp: 'Jan _2 15:04:05',
  StampMilli: 'Jan _2 15:04:05.000',
  StampMicro: 'Jan _2 15:04:05.000000',
  StampNano: 'Jan _2 15:04:05.000000000',
  DateTime: '2006-01-02 15:04:05',
  DateOnly: '2006-01-02',
  TimeOnly: '15:04:05',
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

type Std =
  | 'LongMonth' | 'Month' | 'NumMonth' | 'ZeroMonth' | 'LongWeekDay' | 'WeekDay' | 'Day' | 'UnderDay' | 'ZeroDay'
  | 'UnderYearDay' | 'ZeroYearDay' | 'Hour' | 'Hour12' | 'ZeroHour12' | 'Minute' | 'ZeroMinute' | 'Second' | 'ZeroSecond'
  | 'LongYear' | 'Year' | 'PM' | 'pm' | 'TZ' | 'ISO8601TZ' | 'ISO8601SecondsTZ' | 'ISO8601ShortTZ' | 'ISO8601ColonTZ'
  | 'ISO8601ColonSecondsTZ' | 'NumTZ' | 'NumSecondsTz' | 'NumShortTZ' | 'NumColonTZ' | 'NumColonSecondsTZ' | 'Frac0' | 'Frac9';

type Chunk = { lit: string } | { std: Std; digits?: number; sep?: string };

const lower = (c: string | undefined) => c !== undefined && c >= 'a' && c <= 'z';
const digit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Splits a layout into literals and elements, the way Go's nextStdChunk does. */
function tokenize(layout: string): Chunk[] {
  const out: Chunk[] = [];
  let lit = '';
  const push = (c: Chunk, len: number, i: number): number => {
    if (lit) out.push({ lit });
    lit = '';
    out.push(c);
    return i + len;
  };
  const TZ: Array<[string, Std]> = [
    ['Z07:00:00', 'ISO8601ColonSecondsTZ'], ['Z070000', 'ISO8601SecondsTZ'], ['Z07:00', 'ISO8601ColonTZ'], ['Z0700', 'ISO8601TZ'], ['Z07', 'ISO8601ShortTZ'],
    ['-07:00:00', 'NumColonSecondsTZ'], ['-070000', 'NumSecondsTz'], ['-07:00', 'NumColonTZ'], ['-0700', 'NumTZ'], ['-07', 'NumShortTZ'],
  ];
  let i = 0;
  outer: while (i < layout.length) {
    const rest = layout.slice(i);
    const c = layout[i];
    switch (c) {
      case 'J':
        if (rest.startsWith('January')) { i = push({ std: 'LongMonth' }, 7, i); continue; }
        if (rest.startsWith('Jan') && !lower(rest[3])) { i = push({ std: 'Month' }, 3, i); continue; }
        break;
      case 'M':
        if (rest.startsWith('Monday')) { i = push({ std: 'LongWeekDay' }, 6, i); continue; }
        if (rest.startsWith('Mon') && !lower(rest[3])) { i = push({ std: 'WeekDay' }, 3, i); continue; }
        if (rest.startsWith('MST')) { i = push({ std: 'TZ' }, 3, i); continue; }
        break;
      case '0':
        if (rest[1] >= '1' && rest[1] <= '6') {
          const std = (['ZeroMonth', 'ZeroDay', 'ZeroHour12', 'ZeroMinute', 'ZeroSecond', 'Year'] as Std[])[Number(rest[1]) - 1];
          i = push({ std }, 2, i);
          continue;
        }
        if (rest.startsWith('002')) { i = push({ std: 'ZeroYearDay' }, 3, i); continue; }
        break;
      case '1':
        if (rest[1] === '5') { i = push({ std: 'Hour' }, 2, i); continue; }
        i = push({ std: 'NumMonth' }, 1, i);
        continue;
      case '2':
        if (rest.startsWith('2006')) { i = push({ std: 'LongYear' }, 4, i); continue; }
        i = push({ std: 'Day' }, 1, i);
        continue;
      case '_':
        if (rest[1] === '2') {
          if (rest.startsWith('_2006')) { lit += '_'; i = push({ std: 'LongYear' }, 5, i); continue; }
          i = push({ std: 'UnderDay' }, 2, i);
          continue;
        }
        if (rest.startsWith('__2')) { i = push({ std: 'UnderYearDay' }, 3, i); continue; }
        break;
      case '3':
        i = push({ std: 'Hour12' }, 1, i);
        continue;
      case '4':
        i = push({ std: 'Minute' }, 1, i);
        continue;
      case '5':
        i = push({ std: 'Second' }, 1, i);
        continue;
      case 'P':
        if (rest[1] === 'M') { i = push({ std: 'PM' }, 2, i); continue; }
        break;
      case 'p':
        if (rest[1] === 'm') { i = push({ std: 'pm' }, 2, i); continue; }
        break;
      case '-':
      case 'Z':
        for (const [p, std] of TZ) {
          if (rest.startsWith(p)) {
            i = push({ std }, p.length, i);
            continue outer;
          }
        }
        break;
      case '.':
      case ',':
        if (rest[1] === '0' || rest[1] === '9') {
          let j = 1;
          while (rest[j] === rest[1]) j++;
          if (!digit(rest[j])) {
            i = push({ std: rest[1] === '0' ? 'Frac0' : 'Frac9', digits: j - 1, sep: c }, j, i);
            continue;
          }
        }
        break;
      default:
    }
    lit += c;
    i++;
  }
  if (lit) out.push({ lit });
  return out;
}

export interface Civil {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanos: number;
  weekday: number; // 0 = Sunday
  yday: number;
  offsetSec: number;
  zoneName: string;
}

const pad = (n: number, w: number) => String(Math.abs(n)).padStart(w, '0');

function zone(off: number, colon: boolean, secs: boolean | 'short'): string {
  const a = Math.abs(off);
  const h = Math.floor(a / 3600);
  const m = Math.floor((a % 3600) / 60);
  const s = a % 60;
  let out = `${off < 0 ? '-' : '+'}${pad(h, 2)}`;
  if (secs === 'short') return out;
  out += `${colon ? ':' : ''}${pad(m, 2)}`;
  if (secs) out += `${colon ? ':' : ''}${pad(s, 2)}`;
  return out;
}

export function formatCivil(t: Civil, layout: string): string {
  let out = '';
  const hour12 = t.hour % 12 === 0 ? 12 : t.hour % 12;
  for (const c of tokenize(layout)) {
    if ('lit' in c) {
      out += c.lit;
      continue;
    }
    switch (c.std) {
      case 'Year': out += pad(t.year % 100, 2); break;
      case 'LongYear': out += t.year < 0 ? `-${pad(-t.year, 4)}` : pad(t.year, 4); break;
      case 'Month': out += MONTHS[t.month - 1].slice(0, 3); break;
      case 'LongMonth': out += MONTHS[t.month - 1]; break;
      case 'NumMonth': out += String(t.month); break;
      case 'ZeroMonth': out += pad(t.month, 2); break;
      case 'WeekDay': out += DAYS[t.weekday].slice(0, 3); break;
      case 'LongWeekDay': out += DAYS[t.weekday]; break;
      case 'Day': out += String(t.day); break;
      case 'UnderDay': out += t.day < 10 ? ` ${t.day}` : String(t.day); break;
      case 'ZeroDay': out += pad(t.day, 2); break;
      case 'UnderYearDay': out += String(t.yday).padStart(3, ' '); break;
      case 'ZeroYearDay': out += pad(t.yday, 3); break;
      case 'Hour': out += pad(t.hour, 2); break;
      case 'Hour12': out += String(hour12); break;
      case 'ZeroHour12': out += pad(hour12, 2); break;
      case 'Minute': out += String(t.minute); break;
      case 'ZeroMinute': out += pad(t.minute, 2); break;
      case 'Second': out += String(t.second); break;
      case 'ZeroSecond': out += pad(t.second, 2); break;
      case 'PM': out += t.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += t.hour >= 12 ? 'pm' : 'am'; break;
      case 'TZ':
        out += t.zoneName || zone(t.offsetSec, false, false);
        break;
      case 'ISO8601TZ': case 'ISO8601SecondsTZ': case 'ISO8601ShortTZ': case 'ISO8601ColonTZ': case 'ISO8601ColonSecondsTZ':
      case 'NumTZ': case 'NumSecondsTz': case 'NumShortTZ': case 'NumColonTZ': case 'NumColonSecondsTZ': {
        if (c.std.startsWith('ISO') && t.offsetSec === 0) {
          out += 'Z';
          break;
        }
        const colon = c.std.includes('Colon');
        const secs = c.std.includes('Seconds') ? true : c.std.includes('Short') ? 'short' : false;
        out += zone(t.offsetSec, colon, secs);
        break;
      }
      case 'Frac0':
        out += c.sep! + pad(t.nanos, 9).slice(0, c.digits);
        break;
      case 'Frac9': {
        const digits = pad(t.nanos, 9).slice(0, c.digits).replace(/0+$/, '');
        if (digits) out += c.sep! + digits;
        break;
      }
    }
  }
  return out;
}

class ParseError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function daysIn(month: number, year: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Go's time.Parse (default zone UTC) into exact nanoseconds since the epoch. */
export function parseLayout(layout: string, value: string): bigint {
  let v = value;
  let year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, nanos = 0;
  let pm: boolean | undefined;
  let offset: number | undefined;
  const fail = (): never => {
    throw new ParseError(`cannot parse ${JSON.stringify(value)} as ${JSON.stringify(layout)}`);
  };
  const num = (fixed: boolean, max = 2): number => {
    const m = (fixed ? new RegExp(`^\\d{${max}}`) : new RegExp(`^\\d{1,${max}}`)).exec(v);
    if (!m) fail();
    v = v.slice(m![0].length);
    return Number(m![0]);
  };
  const chunks = tokenize(layout);
  for (let ci = 0; ci < chunks.length; ci++) {
    const c = chunks[ci];
    if ('lit' in c) {
      if (!v.startsWith(c.lit)) fail();
      v = v.slice(c.lit.length);
      continue;
    }
    switch (c.std) {
      case 'Year': {
        const y = num(true, 2);
        year = y >= 69 ? 1900 + y : 2000 + y;
        break;
      }
      case 'LongYear': year = num(true, 4); break;
      case 'Month':
      case 'LongMonth': {
        const names = MONTHS.map((m) => (c.std === 'Month' ? m.slice(0, 3) : m));
        const idx = names.findIndex((n) => v.slice(0, n.length).toLowerCase() === n.toLowerCase());
        if (idx < 0) fail();
        v = v.slice(names[idx].length);
        month = idx + 1;
        break;
      }
      case 'NumMonth': case 'ZeroMonth':
        month = num(c.std === 'ZeroMonth');
        if (month < 1 || month > 12) fail();
        break;
      case 'WeekDay': case 'LongWeekDay': {
        const names = DAYS.map((d) => (c.std === 'WeekDay' ? d.slice(0, 3) : d));
        const idx = names.findIndex((n) => v.slice(0, n.length).toLowerCase() === n.toLowerCase());
        if (idx < 0) fail();
        v = v.slice(names[idx].length);
        break;
      }
      case 'UnderDay': case 'Day': case 'ZeroDay':
        if (c.std === 'UnderDay' && v[0] === ' ') v = v.slice(1);
        day = num(c.std === 'ZeroDay');
        break;
      case 'UnderYearDay': case 'ZeroYearDay':
        num(c.std === 'ZeroYearDay', 3);
        break;
      case 'Hour':
        hour = num(false);
        if (hour > 23) fail();
        break;
      case 'Hour12': case 'ZeroHour12':
        hour = num(c.std === 'ZeroHour12');
        if (hour > 12) fail();
        break;
      case 'Minute': case 'ZeroMinute':
        minute = num(c.std === 'ZeroMinute');
        if (minute > 59) fail();
        break;
      case 'Second': case 'ZeroSecond': {
        second = num(c.std === 'ZeroSecond');
        if (second > 59) fail();
        // A fractional second in the value the layout does not mention is accepted.
        const next = chunks[ci + 1];
        if ((v[0] === '.' || v[0] === ',') && digit(v[1]) && !(next && 'std' in next && (next.std === 'Frac0' || next.std === 'Frac9'))) {
          const m = /^[.,](\d+)/.exec(v)!;
          nanos = Number(m[1].slice(0, 9).padEnd(9, '0'));
          v = v.slice(m[0].length);
        }
        break;
      }
      case 'PM': case 'pm': {
        const p = v.slice(0, 2).toUpperCase();
        if (p !== 'AM' && p !== 'PM') fail();
        pm = p === 'PM';
        v = v.slice(2);
        break;
      }
      case 'ISO8601TZ': case 'ISO8601SecondsTZ': case 'ISO8601ShortTZ': case 'ISO8601ColonTZ': case 'ISO8601ColonSecondsTZ':
      case 'NumTZ': case 'NumSecondsTz': case 'NumShortTZ': case 'NumColonTZ': case 'NumColonSecondsTZ': {
        if (c.std.startsWith('ISO') && v[0] === 'Z') {
          v = v.slice(1);
          offset = 0;
          break;
        }
        const colon = c.std.includes('Colon');
        const re = c.std.includes('Short') ? /^([+-])(\d{2})/ : c.std.includes('Seconds')
          ? (colon ? /^([+-])(\d{2}):(\d{2}):(\d{2})/ : /^([+-])(\d{2})(\d{2})(\d{2})/)
          : (colon ? /^([+-])(\d{2}):(\d{2})/ : /^([+-])(\d{2})(\d{2})/);
        const m = re.exec(v);
        if (!m) fail();
        const secs = Number(m![2]) * 3600 + Number(m![3] ?? 0) * 60 + Number(m![4] ?? 0);
        offset = m![1] === '-' ? -secs : secs;
        v = v.slice(m![0].length);
        break;
      }
      case 'TZ': {
        const m = /^(UTC|GMT([+-]\d{1,2})?|[A-Z]{3,5})/.exec(v);
        if (!m) fail();
        if (m![2]) offset = Number(m![2]) * 3600;
        v = v.slice(m![0].length);
        break;
      }
      case 'Frac0': {
        const re = new RegExp(`^[.,](\\d{${c.digits}})`);
        const m = re.exec(v);
        if (!m) fail();
        nanos = Number(m![1].slice(0, 9).padEnd(9, '0'));
        v = v.slice(m![0].length);
        break;
      }
      case 'Frac9': {
        const m = /^[.,](\d+)/.exec(v);
        if (m) {
          nanos = Number(m[1].slice(0, 9).padEnd(9, '0'));
          v = v.slice(m[0].length);
        }
        break;
      }
    }
  }
  if (v.length > 0) fail();
  if (pm === true && hour < 12) hour += 12;
  if (pm === false && hour === 12) hour = 0;
  if (day < 1 || day > daysIn(month, year)) throw new ParseError('day out of range');
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  const ns = BigInt(d.getTime()) * 1_000_000n + BigInt(nanos) - BigInt(offset ?? 0) * 1_000_000_000n;
  if (ns < INT64_MIN || ns > INT64_MAX) throw new ParseError('time outside of valid range');
  return ns;
}
