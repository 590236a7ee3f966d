/**
 * `.env` files as docker compose reads them (compose-go's dotenv): `KEY=value`, `KEY: value`, `export KEY=value`,
 * `# comments`, inline ` # comments` after unquoted values, single quotes (literal), double quotes (escapes \n \r,
 * multi-line, interpolation), unquoted values interpolated, and a bare `KEY` taking its value from the environment.
 */
import { InvalidParameterError } from '../errors/index.js';
import { substitute, type Lookup } from './interpolation.js';

const isInlineSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\v' || c === '\f';

/**
 * Parses .env text. `lookup` gives the surrounding environment: it feeds interpolation inside values and bare
 * `KEY` lines, and (environmentWins, the default, as for a project's .env) overrides values in the file.
 */
export function parseDotEnv(
  text: string,
  lookup: Lookup = () => undefined,
  source = '.env',
  opts: { environmentWins?: boolean; fallback?: Lookup } = {},
): Record<string, string> {
  const environmentWins = opts.environmentWins ?? true;
  const out: Record<string, string> = {};
  // references see the environment first, then this file's earlier entries, then `fallback` (earlier files)
  const resolve: Lookup = (k) => lookup(k) ?? (Object.hasOwn(out, k) ? out[k] : opts.fallback?.(k));
  const expand = (v: string, line: number): string => {
    try {
      return substitute(v, resolve);
    } catch (err) {
      throw new InvalidParameterError(`${source}:${line}: ${(err as Error).message}`);
    }
  };
  let i = 0;
  const n = text.length;
  const lineAt = (pos: number): number => text.slice(0, pos).split('\n').length;
  while (i < n) {
    // skip whitespace and blank lines
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    if (text[i] === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    const start = i;
    if (text.startsWith('export', i) && i + 6 < n && isInlineSpace(text[i + 6])) {
      i += 6;
      while (i < n && isInlineSpace(text[i])) i++;
    }
    let key = '';
    let sep = '';
    while (i < n) {
      const c = text[i];
      if (c === '=' || c === ':' || c === '\n') { sep = c; break; }
      if (isInlineSpace(c)) { key += c; i++; continue; }
      if (!/[\p{L}\p{N}_.\-]/u.test(c)) {
        const near = text.slice(start, text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i));
        throw new InvalidParameterError(`${source}:${lineAt(i)}: unexpected character "${c}" in variable name "${near}"`);
      }
      key += c;
      i++;
    }
    key = key.trim();
    if (key === '') throw new InvalidParameterError(`${source}:${lineAt(start)}: empty variable name`);
    if (/\s/.test(key)) throw new InvalidParameterError(`${source}:${lineAt(start)}: key cannot contain a space`);
    if (sep === '' || sep === '\n') {
      // bare KEY: inherited from the environment, or left out
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      i++;
      continue;
    }
    i++; // past = or :
    while (i < n && isInlineSpace(text[i])) i++;
    const line = lineAt(i);
    let value: string;
    const q = text[i];
    if (q === '"' || q === "'") {
      let j = i + 1;
      while (j < n && !(text[j] === q && text[j - 1] !== '\\')) j++;
      if (j >= n) {
        const end = text.indexOf('\n', i);
        throw new InvalidParameterError(`${source}:${line}: unterminated quoted value ${text.slice(i, end < 0 ? n : end)}`);
      }
      const raw = text.slice(i + 1, j);
      value = q === '"' ? expand(unescapeDoubleQuoted(raw), line) : raw;
      i = j + 1;
      // rest of the line (a comment) is ignored
      while (i < n && text[i] !== '\n') i++;
    } else {
      let end = text.indexOf('\n', i);
      if (end < 0) end = n;
      let raw = text.slice(i, end);
      const hash = raw.search(/(^|\s)#/);
      if (hash >= 0) raw = raw.slice(0, hash);
      value = expand(raw.trimEnd(), line);
      i = end;
    }
    const fromEnv = environmentWins ? lookup(key) : undefined;
    out[key] = fromEnv ?? value;
  }
  return out;
}

function unescapeDoubleQuoted(s: string): string {
  return s.replace(/\\(.)/gs, (m, c: string) => {
    if (c === 'n') return '\n';
    if (c === 'r') return '\r';
    if (c === 't') return '\t';
    if (c === '$') return '$$'; // a literal dollar for the interpolation step
    return c;
  });
}
