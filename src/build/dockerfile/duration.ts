import { goQuote } from './go-format.js';

/** Go's time.ParseDuration ("1h30m", "1.5s", "300ms"), returning nanoseconds. Errors read like Go's. */
const UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

export function parseGoDuration(input: string): number {
  const bad = () => new Error(`time: invalid duration ${goQuote(input)}`);
  let s = input;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const whole = num[1] ?? '';
    const frac = num[2];
    if (whole === '' && (frac === undefined || frac === '')) throw bad();
    s = s.slice(num[0].length);
    const unitMatch = /^[^\d.]+/.exec(s);
    if (!unitMatch) throw new Error(`time: missing unit in duration ${goQuote(input)}`);
    const unit = unitMatch[0];
    const mult = UNITS[unit];
    if (mult === undefined) throw new Error(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(input)}`);
    s = s.slice(unit.length);
    total += Number(`${whole || '0'}.${frac || '0'}`) * mult;
  }
  const ns = Math.round(total);
  if (ns > Number.MAX_SAFE_INTEGER) throw bad();
  return neg ? -ns : ns;
}
