import { isoTime } from './iso-time.js';

describe('isoTime', () => {
  it('writes what toISOString writes, across second, minute, hour, day, month, year and leap-day boundaries', () => {
    const starts = [0, Date.UTC(1999, 11, 31, 23, 59, 58), Date.UTC(2024, 1, 28, 23, 59, 59), Date.UTC(2024, 1, 29, 12, 0, 0), Date.UTC(2026, 10, 30, 13, 7, 0), Date.UTC(9999, 11, 31, 23, 59, 59)];
    for (const start of starts) {
      for (let ms = start; ms < start + 2500; ms += 7) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    // Going back in time (a clock step) rebuilds the minute.
    for (const ms of [Date.UTC(2026, 0, 1, 0, 1, 0, 5), Date.UTC(2026, 0, 1, 0, 0, 59, 999), Date.UTC(2025, 5, 1), Date.now()]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('falls back to toISOString outside years 0000-9999', () => {
    for (const ms of [-1, -86_400_000 * 400, Date.UTC(10000, 0, 1), Date.UTC(10000, 0, 1) + 1234]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
