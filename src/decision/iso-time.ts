/** Epoch ms of 10000-01-01: from there on toISOString writes a six-digit, signed year. */
const YEAR_10000 = 253_402_300_800_000;

let minuteStart = NaN;
let minutePrefix = '';

/**
 * `new Date(ms).toISOString()` for the decision's `time`, without a Date per
 * decision: the "YYYY-MM-DDTHH:MM:" part is kept for the current minute and
 * only seconds and milliseconds are written (it ran once per decision and
 * showed in the request profile). Same string as toISOString for every
 * integer `ms`; outside years 0000–9999 it is toISOString itself.
 */
export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= YEAR_10000) return new Date(ms).toISOString();
  let offset = ms - minuteStart;
  if (!(offset >= 0 && offset < 60_000)) {
    offset = ms % 60_000;
    minuteStart = ms - offset;
    minutePrefix = new Date(minuteStart).toISOString().slice(0, 17);
  }
  const s = Math.floor(offset / 1000);
  const milli = offset - s * 1000;
  return `${minutePrefix}${s < 10 ? '0' : ''}${s}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
