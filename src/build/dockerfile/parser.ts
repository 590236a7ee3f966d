/**
 * Low-level Dockerfile parser: turns text into one node per instruction, the way
 * BuildKit's frontend/dockerfile/parser does (directives, comments, continuations,
 * JSON versus shell form, flags, heredocs). Instruction semantics live in instructions.ts.
 */
import { DockerfileParseError } from './errors.js';
import { ShellLex, isSpace } from './shell-lex.js';
import { goQuote } from './go-format.js';

export interface Heredoc {
  /** The delimiter word, quotes removed (e.g. EOF). */
  name: string;
  /** The body as written, every line with its newline (no tab stripping). */
  content: string;
  /** False when any part of the delimiter was quoted (<<"EOF", <<'EOF'): no expansion. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body and the delimiter line. */
  chomp: boolean;
  /** The file descriptor written before <<, 0 when none. */
  fileDescriptor: number;
}

export interface KeyValueArg {
  key: string;
  value: string;
  /** True for the legacy `ENV key value` form (no '='). */
  legacy: boolean;
}

export interface DockerfileNode {
  /** Lower-case instruction name. */
  instruction: string;
  /** The instruction name as written. */
  name: string;
  /** Flags as the parser yields them (quotes removed), e.g. "--from=build". */
  flags: string[];
  /**
   * Arguments before expansion: the shell form as one string, the exec form as a list,
   * ENV/LABEL as "key=value" strings, ARG as "key" or "key=value". For ONBUILD the
   * trigger's name followed by its arguments.
   */
  args: string[];
  /** Exec (JSON) form. */
  json: boolean;
  /** ENV and LABEL pairs. */
  keyValues?: KeyValueArg[];
  heredocs: Heredoc[];
  /** 1-based, inclusive; endLine covers continuation lines and heredoc bodies. */
  startLine: number;
  endLine: number;
  /** The logical line (continuations joined, comments removed). */
  original: string;
  /** Comment lines directly above the instruction (without '#'). */
  comments: string[];
  /** ONBUILD's trigger instruction. */
  subcommand?: DockerfileNode;
}

export interface ParserDirectives {
  syntax?: string;
  escape?: string;
  check?: string;
}

export interface ParseResult {
  directives: ParserDirectives;
  escapeToken: '\\' | '`';
  nodes: DockerfileNode[];
  warnings: string[];
}

const DIRECTIVE_RE = /^#[ \t\v\f\r]*([a-zA-Z][a-zA-Z0-9]*)[ \t\v\f\r]*=[ \t\v\f\r]*(.+?)[ \t\v\f\r]*$/;
const VALID_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_RE = /^(\d*)<<(-?)([^<]*)$/;
const WHITESPACE_SPLIT = /[\t\v\f\r ]+/;
const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);

class Directives {
  escapeToken: '\\' | '`' = '\\';
  continuation = continuationRegex('\\');
  done = false;
  seen = new Map<string, string>();

  /** Looks for `# key=value` at the top of the file; anything else ends the directives. */
  possible(line: string): string | undefined {
    if (this.done) return undefined;
    const m = DIRECTIVE_RE.exec(line);
    if (!m) {
      this.done = true;
      return undefined;
    }
    const key = m[1]!.toLowerCase();
    if (!VALID_DIRECTIVES.has(key)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(key)) return `only one ${key} parser directive can be used`;
    this.seen.set(key, m[2]!);
    if (key === 'escape') {
      const v = m[2]!;
      if (v !== '`' && v !== '\\') return `invalid escape token '${v}' does not match \` or \\`;
      this.escapeToken = v;
      this.continuation = continuationRegex(v);
    }
    return undefined;
  }
}

/** The escape token as last non-blank character continues the line, unless it is itself escaped. */
function continuationRegex(token: string): RegExp {
  const t = '\\' + token;
  return new RegExp(`([^${t}])${t}[ \\t]*$|^${t}[ \\t]*$`);
}

function trimLeadingSpace(s: string): string {
  let i = 0;
  const chars = Array.from(s);
  while (i < chars.length && isSpace(chars[i]!)) i++;
  return chars.slice(i).join('');
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

function isComment(raw: string): boolean {
  return trimLeadingSpace(trimNewline(raw)).startsWith('#');
}

/** Splits text into lines, each keeping its "\n" (like BuildKit's scanLines). */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf('\n', start);
    if (i < 0) {
      if (start < text.length) lines.push(text.slice(start));
      return lines;
    }
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
}

export interface ParseOptions {
  /** Name used in the empty-file message (default "Dockerfile"). */
  fileName?: string;
}

/** Parses a Dockerfile into nodes; throws DockerfileParseError where Docker refuses the file. */
export function parseDockerfileAst(text: string, options: ParseOptions = {}): ParseResult {
  if (text.length === 0) {
    throw new DockerfileParseError(`the Dockerfile (${options.fileName ?? 'Dockerfile'}) cannot be empty`, 0);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const lines = splitLines(text);
  const d = new Directives();
  const nodes: DockerfileNode[] = [];
  const warnings: string[] = [];
  let comments: string[] = [];
  let idx = 0;
  let currentLine = 0;

  const processLine = (raw: string, stripLeft: boolean): string => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeadingSpace(token);
    const err = d.possible(token);
    if (err) throw new DockerfileParseError(err, currentLine + 1);
    return token.startsWith('#') ? '' : token;
  };
  const trimContinuation = (line: string): [string, boolean] => {
    if (d.continuation.test(line)) return [line.replace(d.continuation, '$1'), false];
    return [line, true];
  };

  while (idx < lines.length) {
    const raw = lines[idx++]!;
    if (isComment(raw)) {
      const comment = trimLeadingSpace(trimNewline(raw)).slice(1).trim();
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const processed = processLine(raw, true);
    currentLine++;
    const startLine = currentLine;
    let [line, isEnd] = trimContinuation(processed);
    if (isEnd && line === '') continue;

    let emptyContinuation = false;
    while (!isEnd && idx < lines.length) {
      const nextRaw = lines[idx++]!;
      const p = processLine(nextRaw, false);
      currentLine++;
      if (isComment(nextRaw)) continue; // comment lines inside a continuation are dropped
      if (trimLeadingSpace(p) === '') {
        emptyContinuation = true;
        continue;
      }
      let part: string;
      [part, isEnd] = trimContinuation(p);
      line += part;
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${line}`);

    let node: DockerfileNode;
    try {
      node = nodeFromLine(line, d.escapeToken, comments);
    } catch (e) {
      if (e instanceof LineError) throw new DockerfileParseError(e.message, startLine, currentLine);
      throw e;
    }

    if (canContainHeredoc(node)) {
      let docs: Heredoc[];
      try {
        docs = heredocsFromLine(line);
      } catch (e) {
        throw new DockerfileParseError((e as Error).message, startLine, currentLine);
      }
      for (const doc of docs) {
        let terminated = false;
        while (idx < lines.length) {
          const bodyLine = lines[idx++]!;
          currentLine++;
          let candidate = trimNewline(bodyLine);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          doc.content += bodyLine;
        }
        if (!terminated) throw new DockerfileParseError('unterminated heredoc', startLine, currentLine);
        node.heredocs.push(doc);
        if (node.subcommand) node.subcommand.heredocs.push(doc);
      }
    }
    node.startLine = startLine;
    node.endLine = currentLine;
    if (node.subcommand) {
      node.subcommand.startLine = startLine;
      node.subcommand.endLine = currentLine;
    }
    nodes.push(node);
    comments = [];
  }

  if (nodes.length === 0) throw new DockerfileParseError('file with no instructions', 0);

  const directives: ParserDirectives = {};
  for (const [k, v] of d.seen) (directives as Record<string, string>)[k] = v;
  return { directives, escapeToken: d.escapeToken, nodes, warnings };
}

/** An error in one logical line; the caller adds the line numbers. */
class LineError extends Error {}

function canContainHeredoc(node: DockerfileNode): boolean {
  const target = node.instruction === 'onbuild' && node.subcommand ? node.subcommand : node;
  return HEREDOC_INSTRUCTIONS.has(target.instruction) && !target.json;
}

/** Removes the tabs `<<-` strips from a heredoc body. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/** Parses one `<<EOF` style word; undefined when the word is not a heredoc. */
export function parseHeredoc(word: string): Heredoc | undefined {
  const m = HEREDOC_RE.exec(word);
  if (!m) return undefined;
  const rest = m[3]!;
  if (rest.length === 0) return undefined;
  const lex = new ShellLex('\\', { skipUnsetEnv: true });
  // Lex the delimiter with and without quotes: a difference means part of it was quoted.
  const words = lex.processWords(rest, []);
  if (words.length !== 1) return undefined;
  lex.rawQuotes = true;
  const rawWords = lex.processWords(rest, []);
  if (rawWords.length !== words.length) {
    throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const countQuotes = (s: string) => (s.match(/['"]/g) ?? []).length;
  return {
    name: words[0]!,
    content: '',
    expand: countQuotes(words[0]!) === countQuotes(rawWords[0]!),
    chomp: m[2] === '-',
    fileDescriptor: m[1] ? Number(m[1]) : 0,
  };
}

function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLex('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lex.processWords(line, []);
  } catch {
    words = []; // BuildKit ignores lexing errors here: no heredocs
  }
  const docs: Heredoc[] = [];
  for (let i = 0; i < words.length; i++) {
    let w = words[i]!;
    // `<< EOF` and `<<- EOF`: the delimiter is the next word
    if (/^\d*<<-?$/.test(w) && i + 1 < words.length) w += ' ' + words[++i]!;
    const doc = parseHeredoc(w);
    if (doc) docs.push(doc);
  }
  return docs;
}

/** splitCommand + extractBuilderFlags: the instruction word, its --flags and the rest. */
function splitCommand(line: string): { name: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const m = /[\t\v\f\r ]+/.exec(trimmed);
  if (!m) return { name: trimmed, flags: [], rest: '' };
  const name = trimmed.slice(0, m.index);
  const { rest, flags } = extractBuilderFlags(trimmed.slice(m.index + m[0].length));
  return { name, flags, rest: rest.trim() };
}

function extractBuilderFlags(line: string): { rest: string; flags: string[] } {
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = pos < line.length ? line[pos]! : '';
    if (phase === 'spaces') {
      if (pos === line.length) break;
      if (isSpace(ch)) continue;
      // Flags start with "--"; the first other word starts the arguments.
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') return { rest: line.slice(pos), flags: words };
      phase = 'word';
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags: words };
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      let c = ch;
      if (c === '\\') {
        if (pos + 1 === line.length) continue;
        pos++;
        c = line[pos]!;
      }
      word += c;
      continue;
    }
    // in a quote
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    let c = ch;
    if (c === '\\') {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      c = line[pos]!;
    }
    word += c;
  }
  return { rest: '', flags: words };
}

function nodeFromLine(line: string, escapeToken: string, comments: string[]): DockerfileNode {
  const { name, flags, rest } = splitCommand(line);
  const instruction = name.toLowerCase();
  const node: DockerfileNode = {
    instruction,
    name,
    flags,
    args: [],
    json: false,
    heredocs: [],
    startLine: 0,
    endLine: 0,
    original: line,
    comments: [...comments],
  };
  switch (instruction) {
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
      parseMaybeJSON(rest, node);
      break;
    case 'add':
    case 'copy':
    case 'volume':
      if (!parseJSONInto(rest, node)) node.args = splitWhitespace(rest);
      break;
    case 'env':
    case 'label':
      parseNameVal(rest, instruction === 'env' ? 'ENV' : 'LABEL', escapeToken, node);
      break;
    case 'arg':
      node.args = parseWords(rest, escapeToken);
      break;
    case 'expose':
    case 'from':
      node.args = splitWhitespace(rest);
      break;
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      node.args = rest === '' ? [] : [rest];
      break;
    case 'healthcheck':
      parseHealthConfig(rest, node);
      break;
    case 'onbuild':
      if (rest !== '') {
        const sub = nodeFromLine(rest, escapeToken, []);
        node.subcommand = sub;
        node.args = [sub.name, ...sub.args];
      }
      break;
    default:
      break; // unknown instructions keep no arguments; instructions.ts reports them
  }
  return node;
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(WHITESPACE_SPLIT);
}

/** True when rest is a JSON array of strings (stored in node.args); throws for a JSON array of non-strings. */
function parseJSONInto(rest: string, node: DockerfileNode): boolean {
  const t = trimLeadingSpace(rest);
  if (!t.startsWith('[')) return false;
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch {
    return false; // not valid JSON: shell form
  }
  if (!Array.isArray(value)) return false;
  if (!value.every((v) => typeof v === 'string')) {
    throw new LineError('when using JSON array syntax, arrays must be comprised of strings only');
  }
  node.args = value as string[];
  node.json = true;
  return true;
}

function parseMaybeJSON(rest: string, node: DockerfileNode): void {
  if (rest === '') return;
  if (parseJSONInto(rest, node)) return;
  node.args = [rest];
}

function parseHealthConfig(rest: string, node: DockerfileNode): void {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep]!)) sep++;
  let next = sep;
  while (next < rest.length && isSpace(rest[next]!)) next++;
  if (sep === 0) return;
  const typ = rest.slice(0, sep);
  const cmd: DockerfileNode = { ...node, args: [], json: false };
  parseMaybeJSON(rest.slice(next), cmd);
  node.args = [typ, ...cmd.args];
  node.json = cmd.json;
}

/**
 * Splits on unquoted whitespace, keeping quotes and escapes in the words
 * (they are removed later, by expansion).
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let word = '';
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = pos < chars.length ? chars[pos]! : '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // escape at the end is dropped
        // an escape outside quotes keeps itself and the next character, even a quote
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // in a quote
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}

function parseNameVal(rest: string, key: string, escapeToken: string, node: DockerfileNode): void {
  // `KEY name value` (legacy) when the first word has no '=', else `KEY a=b c=d`.
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return;
  const pairs: KeyValueArg[] = [];
  if (!words[0]!.includes('=')) {
    const m = WHITESPACE_SPLIT.exec(rest);
    if (!m) throw new LineError(`${key} must have two arguments`);
    pairs.push({ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length), legacy: true });
  } else {
    for (const w of words) {
      const i = w.indexOf('=');
      if (i < 0) throw new LineError(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
      pairs.push({ key: w.slice(0, i), value: w.slice(i + 1), legacy: false });
    }
  }
  node.keyValues = pairs;
  node.args = pairs.map((p) => `${p.key}=${p.value}`);
}
