/**
 * units.parse and units.parse_bytes with OPA's rules (v1/topdown/parse_units.go,
 * parse_bytes.go): quotes stripped, no spaces, a number then a unit;
 * units.parse is case-sensitive for m (milli) vs M (mega).
 */

const SI: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15, e: 1e18 };
const BIN: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };

function splitNumUnit(s: string): [string, string] {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s[i];
    if (/[0-9.]/.test(c) || c === '+' || c === '-') continue;
    if (c === 'e' || c === 'E') {
      const next = s[i + 1];
      if (next !== undefined && /[0-9+-]/.test(next)) {
        if (next === '+' || next === '-') i++;
        continue;
      }
    }
    break;
  }
  return [s.slice(0, i), s.slice(i)];
}

function toNumber(num: string): number {
  // `\d+(\.\d*)?`, not `\d+\.?\d*`: the latter backtracks quadratically on a long run of digits.
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(num)) throw new TypeError('could not parse amount to a number');
  const n = Number(num);
  if (!Number.isFinite(n)) throw new RangeError('exponent too large');
  return n;
}

/** Integer amount times integer multiplier, exact (OPA computes with big numbers). */
function exactProduct(num: string, mult: number, approx: number): number | bigint {
  if (!/^[+-]?\d+$/.test(num) || !Number.isInteger(mult) || Number.isSafeInteger(approx)) return approx;
  return BigInt(num) * BigInt(mult);
}

function roundish(x: number): number {
  // Go computes with big.Rat; FloatString(10) keeps 10 decimals.
  return Number.isInteger(x) ? x : Number(x.toFixed(10));
}

/** units.parse("10K") = 10000, ("1Ki") = 1024, ("100m") = 0.1 */
export function unitsParse(v: unknown): number | bigint {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  const s = v.replace(/"/g, '');
  if (s.includes(' ')) throw new TypeError('spaces not allowed');
  const [num, rawUnit] = splitNumUnit(s);
  if (num === '') throw new TypeError('no amount provided');
  const unit = rawUnit.length > 1 ? rawUnit[0] + rawUnit.slice(1).toLowerCase() : rawUnit;
  let mult: number;
  if (unit === '') mult = 1;
  else if (unit === 'm') mult = 0.001;
  else if (unit === 'M') mult = SI.m;
  else if (/^[kKgGtTpPeE]$/.test(unit)) mult = SI[unit.toLowerCase()];
  else if (/^[kKmMgGtTpPeE]i$/.test(unit)) mult = BIN[unit[0].toLowerCase()];
  else throw new TypeError(`unit ${unit} not recognized`);
  const r = roundish(toNumber(num) * mult);
  return exactProduct(num, mult, r);
}

/** units.parse_bytes("10KB") = 10000, ("1KiB") = 1024; case-insensitive; truncated to an integer. */
export function unitsParseBytes(v: unknown): number | bigint {
  if (typeof v !== 'string') throw new TypeError('operand must be a string');
  const s = v.toLowerCase().replace(/"/g, '');
  if (s.includes(' ')) throw new TypeError('spaces not allowed');
  const [num, unit] = splitNumUnit(s);
  if (num === '') throw new TypeError('no byte amount provided');
  let mult: number;
  const m = /^([kmgtpe])(i?)b?$/.exec(unit);
  if (unit === '') mult = 1;
  else if (m) mult = m[2] ? BIN[m[1]] : SI[m[1]];
  else throw new TypeError(`byte unit ${unit} not recognized`);
  const r = Math.trunc(toNumber(num) * mult);
  if (!Number.isFinite(r)) throw new RangeError('exponent too large');
  return exactProduct(num, mult, r);
}
