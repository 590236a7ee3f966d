/** Durations, byte sizes and shell words as the Compose specification writes them. */
import { InvalidParameterError } from '../errors/index.js';

const DURATION_UNITS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** Parses a Go duration ("1m30s", "1.5s", "300ms") to nanoseconds. A bare number counts as seconds. */
export function parseDuration(v: string | number, field = 'duration'): number {
  if (typeof v === 'number') return Math.round(v * 1e9);
  const s = v.trim();
  if (/^[-+]?\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1e9);
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let sign = 1;
  let rest = s;
  if (rest.startsWith('-') || rest.startsWith('+')) { sign = rest[0] === '-' ? -1 : 1; rest = rest.slice(1); }
  if (rest === '0') return 0;
  let total = 0;
  let pos = 0;
  re.lastIndex = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) throw new InvalidParameterError(`${field}: invalid duration "${v}"`);
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = re.lastIndex;
  }
  if (pos === 0) throw new InvalidParameterError(`${field}: invalid duration "${v}"`);
  return sign * Math.round(total);
}

/** Formats nanoseconds as Go's time.Duration.String() does ("1m30s", "1.5s", "300ms", "0s"): docker compose config's form. */
export function formatDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    if (u < 1e3) out = `${u}ns`;
    else if (u < 1e6) out = `${trimFrac(u / 1e3)}µs`;
    else out = `${trimFrac(u / 1e6)}ms`;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const sec = `${trimFrac(u / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trimFrac(x: number): string {
  return String(Number(x.toFixed(9)));
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Parses a byte size ("512m", "1gb", "2GiB", "1024", 1048576) to bytes, with docker's binary multiples. */
export function parseBytes(v: string | number, field = 'size'): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(i?b)?\s*$/i.exec(v);
  if (!m) throw new InvalidParameterError(`${field}: invalid size "${v}"`);
  return Math.floor(Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()]);
}

/** Splits a command string into words as a POSIX shell would (quotes and backslashes), as docker compose does. */
export function shellSplit(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) { cur += s[i + 1]; inWord = true; i += 2; continue; }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new InvalidParameterError(`invalid command line string: unterminated quote in ${s}`);
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let part = '';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length && '"\\$`'.includes(s[j + 1])) { part += s[j + 1]; j += 2; continue; }
        part += s[j];
        j++;
      }
      if (j >= s.length) throw new InvalidParameterError(`invalid command line string: unterminated quote in ${s}`);
      cur += part;
      inWord = true;
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
      i++;
      continue;
    }
    cur += c;
    inWord = true;
    i++;
  }
  if (inWord) words.push(cur);
  return words;
}
