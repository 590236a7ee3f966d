/**
 * Docker's shell-word lexer: variable expansion and word splitting as BuildKit's
 * frontend/dockerfile/shell does it (a small subset of POSIX sh, not a real shell).
 *
 * Supported: $v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?m} ${v?m} ${v#p} ${v##p}
 * ${v%p} ${v%%p} ${v/p/r} ${v//p/r}, single and double quotes, the escape token.
 * Word splitting (processWords) happens after expansion, on unquoted whitespace,
 * and only on whitespace that came from the source or from an unquoted variable.
 */
import { InvalidParameterError } from '../../errors/index.js';
import { goQuote } from './go-format.js';

/** Variables visible to the lexer. */
export interface EnvGetter {
  get(name: string): string | undefined;
  keys(): string[];
}

export type EnvInput = EnvGetter | Map<string, string> | Record<string, string> | readonly string[];

/** Builds an EnvGetter from `KEY=value` strings (later entries win), a Map or a plain object. */
export function toEnvGetter(env: EnvInput | undefined): EnvGetter {
  if (!env) return new MapEnv(new Map());
  if (Array.isArray(env)) {
    const map = new Map<string, string>();
    for (const entry of env as readonly string[]) {
      const i = entry.indexOf('=');
      if (i < 0) map.set(entry, '');
      else map.set(entry.slice(0, i), entry.slice(i + 1));
    }
    return new MapEnv(map);
  }
  if (env instanceof Map) return new MapEnv(env);
  if (typeof (env as EnvGetter).get === 'function' && typeof (env as EnvGetter).keys === 'function') {
    return env as EnvGetter;
  }
  return new MapEnv(new Map(Object.entries(env as Record<string, string>)));
}

class MapEnv implements EnvGetter {
  constructor(private readonly map: Map<string, string>) {}
  get(name: string): string | undefined { return this.map.get(name); }
  keys(): string[] { return [...this.map.keys()]; }
}

/** An expansion error; the message reads like BuildKit's (`failed to process "...": ...`). */
export class ShellExpansionError extends InvalidParameterError {}

export interface ProcessWordResult {
  result: string;
  words: string[];
  /** Variables that were looked up and found. */
  matched: Set<string>;
  /** Variables that were looked up and not set. */
  unmatched: Set<string>;
}

const EOF = -1;

export interface ShellLexOptions {
  /** Keep quote characters in the output (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (used to expand heredoc contents). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
}

export class ShellLex {
  rawQuotes: boolean;
  rawEscapes: boolean;
  skipProcessQuotes: boolean;
  skipUnsetEnv: boolean;
  readonly escapeToken: string;

  constructor(escapeToken = '\\', options: ShellLexOptions = {}) {
    if (escapeToken !== '\\' && escapeToken !== '`') {
      throw new InvalidParameterError(`invalid escape token '${escapeToken}' does not match \` or \\`);
    }
    this.escapeToken = escapeToken;
    this.rawQuotes = options.rawQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
  }

  /** Expands variables and removes quotes; keeps whitespace between words. */
  processWord(word: string, env?: EnvInput): string {
    return this.process(word, env).result;
  }

  /** Expands, then splits into words on unquoted whitespace. */
  processWords(word: string, env?: EnvInput): string[] {
    return this.process(word, env).words;
  }

  processWordWithMatches(word: string, env?: EnvInput): ProcessWordResult {
    return this.process(word, env);
  }

  private process(word: string, env: EnvInput | undefined): ProcessWordResult {
    const sw = new ShellWord(this, toEnvGetter(env), word);
    try {
      const [result, words] = sw.processStopOn(EOF, this.rawEscapes);
      return { result, words, matched: sw.matches, unmatched: sw.nonmatches };
    } catch (e) {
      if (e instanceof LexFailure) {
        throw new ShellExpansionError(`failed to process ${goQuote(word)}: ${e.message}`);
      }
      throw e;
    }
  }
}

class LexFailure extends Error {}

class WordsAcc {
  buf = '';
  words: string[] = [];
  inWord = false;
  addChar(ch: string): void {
    if (isSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** Go's unicode.IsSpace. */
export function isSpace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch);
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  matches = new Set<string>();
  nonmatches = new Set<string>();

  constructor(private readonly lex: ShellLex, private readonly env: EnvGetter, source: string) {
    this.chars = Array.from(source);
    this.rawEscapes = lex.rawEscapes;
  }

  private peek(): string | typeof EOF {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  private next(): string | typeof EOF {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  processStopOn(stopChar: string | typeof EOF, rawEscapes: boolean): [string, string[]] {
    let result = '';
    const words = new WordsAcc();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek() as string;
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return [result, words.getWords()];
        }
        if (ch === '$' || (!this.lex.skipProcessQuotes && (ch === "'" || ch === '"'))) {
          const tmp = ch === '$' ? this.processDollar() : ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          if (ch === '$') words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        ch = this.next() as string;
        if (ch === this.lex.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(ch);
            result += ch;
          }
          const n = this.next();
          if (n === EOF) break; // an escape at the very end is dropped
          words.addRawChar(n);
          result += n;
        } else {
          words.addChar(ch);
          result += ch;
        }
      }
      if (stopChar !== EOF) {
        throw new LexFailure(`unexpected end of statement while looking for matching ${stopChar}`);
      }
      return [result, words.getWords()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; ' cannot be escaped inside.
    let result = '';
    const open = this.next() as string;
    if (this.lex.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.lex.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ and the escape token, which escapes only " $ and itself.
    let result = '';
    const open = this.next() as string;
    if (this.lex.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        if (this.lex.rawQuotes) result += '"';
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.lex.escapeToken) {
        if (this.rawEscapes) result += ch;
        const n = this.peek();
        if (n === EOF) continue; // trailing escape ignored
        if (n === '"' || n === '$' || n === this.lex.escapeToken) ch = this.next() as string;
      }
      result += ch;
    }
  }

  private processDollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }
    this.next(); // {
    const first = this.peek();
    if (first === EOF) throw new LexFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexFailure('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    if (ch === EOF) throw new LexFailure("syntax error: missing '}'");
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      if (ch === EOF) throw new LexFailure("syntax error: missing '}'");
      chs += ch;
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const raw = ch === '#' || ch === '%';
      if (nullIsUnset && raw) throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
      let word: string;
      try {
        [word] = this.processStopOn('}', raw);
      } catch (e) {
        if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '}'");
        throw e;
      }
      const value = this.getEnv(name);
      const set = value !== undefined;
      if (this.lex.skipUnsetEnv && !set) return `\${${name}${chs}${word}}`;
      switch (ch) {
        case '-':
          if (!set || (nullIsUnset && value === '')) return word;
          return value;
        case '+':
          if (!set || (nullIsUnset && value === '')) return '';
          return word;
        case '?':
          if (!set) throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
          if (nullIsUnset && value === '') throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
          return value;
        case '%':
        case '#': {
          // # and % take the shortest match, ## and %% the longest.
          let greedy = false;
          let pattern = word;
          if (pattern.length > 0 && pattern[0] === ch) {
            greedy = true;
            pattern = pattern.slice(1);
          }
          return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
        }
        default:
          throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
      }
    }
    if (ch === '/') {
      const replaceAll = this.peek() === '/';
      if (replaceAll) this.next();
      let pattern: string;
      let replacement: string;
      try {
        [pattern] = this.processStopOn('/', true);
      } catch (e) {
        if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '/' in ${}");
        throw e;
      }
      try {
        [replacement] = this.processStopOn('}', true);
      } catch (e) {
        if (e instanceof LexFailure && this.peek() === EOF) throw new LexFailure("syntax error: missing '}'");
        throw e;
      }
      const value = this.getEnv(name);
      if (this.lex.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
      const re = shellPatternToRegex(pattern, true, false, replaceAll);
      return replaceAll ? goReplaceAll(value ?? '', re, replacement) : (value ?? '').replace(re, () => replacement);
    }
    throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
  }

  private processName(): string {
    // A name is letters, digits and _; a leading digit reads digits only; or one special parameter.
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek() as string;
      if (name.length === 0 && DIGIT.test(ch)) {
        while (this.peek() !== EOF && DIGIT.test(this.peek() as string)) name += this.next();
        return name;
      }
      if (name.length === 0 && '@*#?-$!0'.includes(ch)) {
        this.next();
        return ch;
      }
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name);
    if (v !== undefined) this.matches.add(name);
    else this.nonmatches.add(name);
    return v;
  }
}

/**
 * Converts a ${v#pattern} style glob (? = one char, * = any run, \ escapes * ? \)
 * to a RegExp. Bracket expressions are not supported, as in BuildKit.
 */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '.*' : '.*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') { out += star; continue; }
    if (tok === '?') { out += '.'; continue; }
    if (tok === '\\') {
      const nextCh = chars[i + 1];
      // \} and \/ are escapes of ${} syntax, not of the pattern
      if (nextCh === '}' || nextCh === '/') continue;
      i++;
      if (nextCh !== '*' && nextCh !== '?' && nextCh !== '\\') {
        throw new LexFailure(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nextCh ?? ''}'`);
      }
      out += '\\' + nextCh;
      continue;
    }
    if ('[]{}.+()|^$'.includes(tok)) out += '\\';
    out += tok;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = shellPatternToRegex(pattern, greedy, true);
  const m = re.exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverses a pattern but keeps escapes in front of what they escape (a\*c -> c\*a). */
function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last;) {
    const tok = runes[i]!;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = runes[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regex cannot find the shortest rightmost match, so search the reversed string.
  const reversed = Array.from(value).reverse().join('');
  const trimmed = trimPrefix(reversePattern(pattern), reversed, greedy);
  return Array.from(trimmed).reverse().join('');
}

/** Go's Regexp.ReplaceAllString: an empty match right after a previous match is ignored. */
function goReplaceAll(value: string, re: RegExp, replacement: string): string {
  let out = '';
  let last = 0;
  let prevEnd = -1;
  re.lastIndex = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const start = m.index;
    const end = start + m[0].length;
    if (m[0].length === 0) {
      re.lastIndex = start + (value.codePointAt(start)! > 0xffff ? 2 : 1);
      if (start === prevEnd) {
        if (start >= value.length) break;
        continue;
      }
    }
    out += value.slice(last, start) + replacement;
    last = end;
    prevEnd = end;
    if (start >= value.length) break;
  }
  return out + value.slice(last);
}
