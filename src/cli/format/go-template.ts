/**
 * A Go text/template subset, as used by docker's --format: `{{.Field.Sub}}`, variables, pipes,
 * `if/else if/else/end`, `range` (with `$i, $v :=`), `with`, parenthesised pipelines, trim
 * markers `{{- -}}`, comments, and the functions docker registers (json, join, split, lower,
 * upper, title, pad, truncate) next to Go's builtins (printf, index, len, eq, ne, lt, le, gt, ge,
 * and, or, not, print, println, slice). Data is plain JS: objects as maps/structs; a property that
 * is a function acts as a method (`{{.Label "x"}}`).
 */

export class TemplateError extends Error {}

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipe }
  | { kind: 'if' | 'with'; pipe: Pipe; list: Node[]; elseList?: Node[] }
  | { kind: 'range'; pipe: Pipe; list: Node[]; elseList?: Node[] }
  | { kind: 'break' } | { kind: 'continue' };

interface Pipe { decl: string[]; assign: boolean; cmds: Arg[][] }

type Arg =
  | { kind: 'field'; chain: string[]; pos?: number } // .A.B  (chain [] = dot); pos as Go reports it
  | { kind: 'var'; name: string; chain: string[] } // $x.A
  | { kind: 'ident'; name: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'nil' }
  | { kind: 'pipe'; pipe: Pipe; chain: string[] };

type Tok = { t: 'ident' | 'field' | 'var' | 'string' | 'number' | 'char' | 'punct' | 'eof'; v: string; glued?: boolean; pos?: number };

function lexAction(src: string, where: string, base = 0): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const fail = (m: string): never => { throw new TemplateError(`template: ${where}: ${m}`); };
  let tokStart = 0;
  const mark = (): void => {
    // Record where the token(s) pushed by the previous iteration started, and whether they touch the one before.
    for (let k = toks.length - 1; k >= 0 && toks[k].glued === undefined; k--) {
      const prev = toks[k - 1] as (Tok & { end?: number }) | undefined;
      toks[k].glued = prev !== undefined && prev.end === tokStart;
      toks[k].pos = base + tokStart;
      (toks[k] as Tok & { end?: number }).end = i;
    }
  };
  while (i < src.length) {
    mark();
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    tokStart = i;
    if (c === '"') {
      let j = i + 1; let s = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\') {
          const n = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0' };
          if (n === 'x') { s += String.fromCharCode(parseInt(src.slice(j + 2, j + 4), 16)); j += 4; continue; }
          if (n === 'u') { s += String.fromCharCode(parseInt(src.slice(j + 2, j + 6), 16)); j += 6; continue; }
          s += map[n] ?? n; j += 2; continue;
        }
        s += src[j++];
      }
      if (j >= src.length) fail('unterminated quoted string');
      toks.push({ t: 'string', v: s }); i = j + 1; continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) fail('unterminated raw quoted string');
      toks.push({ t: 'string', v: src.slice(i + 1, j) }); i = j + 1; continue;
    }
    if (c === "'") {
      const m = /^'(\\.|[^'])'/.exec(src.slice(i));
      if (!m) fail('unterminated character constant');
      const ch = m![1].startsWith('\\') ? ({ n: '\n', t: '\t' } as Record<string, string>)[m![1][1]] ?? m![1][1] : m![1];
      toks.push({ t: 'number', v: String(ch.codePointAt(0)) }); i += m![0].length; continue;
    }
    if (c === ':' && src[i + 1] === '=') { toks.push({ t: 'punct', v: ':=' }); i += 2; continue; }
    if ('()|,='.includes(c)) { toks.push({ t: 'punct', v: c }); i++; continue; }
    if (c === '.' && !/[0-9]/.test(src[i + 1] ?? '')) {
      const m = /^\.[A-Za-z_0-9]*/.exec(src.slice(i))!;
      toks.push({ t: 'field', v: m[0].slice(1) }); i += m[0].length; continue;
    }
    if (c === '$') {
      const m = /^\$[A-Za-z_0-9]*/.exec(src.slice(i))!;
      toks.push({ t: 'var', v: m[0] }); i += m[0].length; continue;
    }
    const num = /^[+-]?(0x[0-9a-fA-F]+|\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && (c !== '+' && c !== '-' || /[0-9.]/.test(src[i + 1] ?? ''))) {
      toks.push({ t: 'number', v: num[0] }); i += num[0].length; continue;
    }
    const id = /^[A-Za-z_][A-Za-z_0-9]*/.exec(src.slice(i));
    if (id) { toks.push({ t: 'ident', v: id[0] }); i += id[0].length; continue; }
    fail(`unexpected "${c}" in command`);
  }
  mark();
  toks.push({ t: 'eof', v: '', glued: false });
  return toks;
}

interface RawAction { text: string; line: number; offset: number }

/** Splits the source into text and action pieces, applying trim markers and dropping comments. */
function scan(src: string): (string | RawAction)[] {
  const out: (string | RawAction)[] = [];
  let i = 0; let line = 1;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) { out.push(src.slice(i)); break; }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) { text = text.replace(/\s+$/, ''); start += 1; }
    if (text) out.push(text);
    line += (src.slice(i, open).match(/\n/g) ?? []).length;
    // Find the closing braces outside of quoted strings.
    let j = start; let quote = '';
    for (; j < src.length; j++) {
      const c = src[j];
      if (quote) { if (c === '\\' && quote === '"') j++; else if (c === quote) quote = ''; continue; }
      if (c === '"' || c === '`' || c === "'") { quote = c; continue; }
      if (c === '}' && src[j + 1] === '}') break;
    }
    if (j >= src.length) throw new TemplateError(`template: :${line}: unclosed action`);
    let body = src.slice(start, j);
    let next = j + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    const trimmed = body.trim();
    if (!(trimmed.startsWith('/*') && trimmed.endsWith('*/'))) out.push({ text: body, line, offset: start });
    line += (src.slice(open, next).match(/\n/g) ?? []).length;
    i = next;
  }
  return out;
}

class Parser {
  private pieces: (string | RawAction)[];
  private pos = 0;
  constructor(src: string) { this.pieces = scan(src); }

  parse(): Node[] {
    const { list, end } = this.parseList();
    if (end) throw new TemplateError(`template: :${end.line}: unexpected {{${end.word}}}`);
    return list;
  }

  private parseList(): { list: Node[]; end?: { word: string; rest: Tok[]; line: number; raw: string } } {
    const list: Node[] = [];
    while (this.pos < this.pieces.length) {
      const p = this.pieces[this.pos++];
      if (typeof p === 'string') { list.push({ kind: 'text', text: p }); continue; }
      const where = `:${p.line}`;
      const toks = lexAction(p.text, where, p.offset);
      const first = toks[0];
      if (first.t === 'ident' && (first.v === 'end' || first.v === 'else')) {
        return { list, end: { word: first.v, rest: toks.slice(1), line: p.line, raw: p.text } };
      }
      if (first.t === 'ident' && (first.v === 'if' || first.v === 'with' || first.v === 'range')) {
        list.push(this.parseControl(first.v, toks.slice(1), where));
        continue;
      }
      if (first.t === 'ident' && (first.v === 'break' || first.v === 'continue')) { list.push({ kind: first.v }); continue; }
      if (first.t === 'ident' && (first.v === 'define' || first.v === 'template' || first.v === 'block')) {
        throw new TemplateError(`template: ${where}: {{${first.v}}} is not supported`);
      }
      if (first.t === 'eof') throw new TemplateError(`template: ${where}: missing value for command`);
      list.push({ kind: 'action', pipe: new PipeParser(toks, where).pipeline(true) });
    }
    return { list };
  }

  private parseControl(kind: 'if' | 'with' | 'range', toks: Tok[], where: string): Node {
    const pipe = new PipeParser(toks, where).pipeline(true);
    const body = this.parseList();
    if (!body.end) throw new TemplateError(`template: ${where}: unexpected EOF`);
    let elseList: Node[] | undefined;
    if (body.end.word === 'else') {
      const rest = body.end.rest;
      if (rest[0].t === 'ident' && (rest[0].v === 'if' || rest[0].v === 'with') && kind !== 'range') {
        // {{else if ...}} / {{else with ...}}: a nested control that shares our {{end}}.
        const nested = this.parseControl(rest[0].v as 'if' | 'with', rest.slice(1), where);
        elseList = [nested];
        return { kind, pipe, list: body.list, elseList } as Node;
      }
      const tail = this.parseList();
      if (!tail.end || tail.end.word !== 'end') throw new TemplateError(`template: ${where}: expected end; found ${tail.end?.word ?? 'EOF'}`);
      elseList = tail.list;
    }
    return { kind, pipe, list: body.list, elseList } as Node;
  }
}

class PipeParser {
  private i = 0;
  constructor(private toks: Tok[], private where: string) {}
  private peek(): Tok { return this.toks[this.i]; }
  private next(): Tok { return this.toks[this.i++]; }
  private fail(m: string): never { throw new TemplateError(`template: ${this.where}: ${m}`); }

  pipeline(top: boolean): Pipe {
    const pipe: Pipe = { decl: [], assign: false, cmds: [] };
    // Declarations: $x := ... or $i, $v := ...
    const save = this.i;
    const vars: string[] = [];
    while (this.peek().t === 'var') {
      vars.push(this.next().v);
      if (this.peek().t === 'punct' && this.peek().v === ',') { this.next(); continue; }
      break;
    }
    const p = this.peek();
    if (vars.length && p.t === 'punct' && (p.v === ':=' || p.v === '=')) {
      this.next(); pipe.decl = vars; pipe.assign = p.v === '=';
    } else this.i = save;
    for (;;) {
      const cmd: Arg[] = [];
      for (;;) {
        const t = this.peek();
        if (t.t === 'eof' || (t.t === 'punct' && (t.v === '|' || t.v === ')'))) break;
        cmd.push(this.operand());
      }
      if (cmd.length === 0) this.fail('missing value for command');
      pipe.cmds.push(cmd);
      const t = this.peek();
      if (t.t === 'punct' && t.v === '|') { this.next(); continue; }
      break;
    }
    if (top && this.peek().t !== 'eof') this.fail(`unexpected "${this.peek().v}" in command`);
    return pipe;
  }

  private chain(): string[] {
    const chain: string[] = [];
    while (this.peek().t === 'field' && this.peek().v !== '' && this.peek().glued) chain.push(this.next().v);
    return chain;
  }

  private operand(): Arg {
    const t = this.next();
    switch (t.t) {
      case 'field': {
        const chain = t.v === '' ? [] : [t.v];
        // Go positions a chained field at its second element.
        const pos = this.peek().t === 'field' && this.peek().glued ? this.peek().pos : t.pos;
        return { kind: 'field', chain: chain.concat(this.chain()), pos };
      }
      case 'var': return { kind: 'var', name: t.v, chain: this.chain() };
      case 'string': return { kind: 'string', value: t.v };
      case 'number': return { kind: 'number', value: Number(t.v) };
      case 'ident':
        if (t.v === 'true' || t.v === 'false') return { kind: 'bool', value: t.v === 'true' };
        if (t.v === 'nil') return { kind: 'nil' };
        return { kind: 'ident', name: t.v };
      case 'punct':
        if (t.v === '(') {
          const pipe = this.pipeline(false);
          const close = this.next();
          if (close.t !== 'punct' || close.v !== ')') this.fail('unclosed left paren');
          return { kind: 'pipe', pipe, chain: this.chain() };
        }
        return this.fail(`unexpected "${t.v}" in operand`);
      default: return this.fail('unexpected end of command');
    }
  }
}

// ---- evaluation ------------------------------------------------------------------------

export type TemplateFunc = (...args: unknown[]) => unknown;

class Break { }
class Continue { }

function goType(v: unknown): string {
  if (v === null || v === undefined) return 'interface {}';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

/** Go's %g with a precision (used for floats and docker's size units). */
export function formatGoFloat(x: number, precision = -1): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  let mantissa: string; let exp: number;
  if (precision < 0) {
    // Shortest representation that round-trips, like strconv 'g' with -1.
    const e = x.toExponential();
    [mantissa, exp] = [e.split('e')[0], Number(e.split('e')[1])];
    if (exp < -4 || exp >= 21) return goExp(mantissa, exp);
    return plain(x);
  }
  const p = precision === 0 ? 1 : precision;
  const e = x.toExponential(p - 1);
  mantissa = e.split('e')[0]; exp = Number(e.split('e')[1]);
  if (exp < -4 || exp >= p) return goExp(mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa, exp);
  const fixed = x.toFixed(Math.max(0, p - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}
function plain(x: number): string {
  const s = String(x);
  if (!s.includes('e')) return s;
  return x.toFixed(20).replace(/0+$/, '').replace(/\.$/, '');
}
function goExp(mantissa: string, exp: number): string {
  const sign = exp < 0 ? '-' : '+';
  const a = Math.abs(exp);
  return `${mantissa}e${sign}${a < 10 ? '0' : ''}${a}`;
}

/** Go's fmt %v for JSON-ish values. */
export function formatValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 1e21 ? String(v) : formatGoFloat(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'function') return formatValue((v as () => unknown)());
  if (Array.isArray(v)) return `[${v.map(inner).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') {
    const s = (v as { toString?: () => string }).toString;
    if (s && s !== Object.prototype.toString) return s.call(v);
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${inner((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}
function inner(v: unknown): string { return v === undefined || v === null ? '<nil>' : formatValue(v); }

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

/** Go's fmt.Sprintf for the verbs templates use: %s %v %d %q %t %f %x %5s %-10s %.2f %%. */
export function sprintf(format: string, ...args: unknown[]): string {
  let ai = 0;
  return format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])/g, (all, flags: string, widthS: string | undefined, precS: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    let width = widthS === '*' ? Number(args[ai++]) : widthS ? Number(widthS) : undefined;
    const prec = precS !== undefined ? Number(precS) : undefined;
    if (ai >= args.length) return `%!${verb}(MISSING)`;
    const a = args[ai++];
    let s: string;
    switch (verb) {
      case 'd': s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${goType(a)}=${formatValue(a)})`; break;
      case 'f': case 'F': s = typeof a === 'number' ? a.toFixed(prec ?? 6) : `%!f(${goType(a)}=${formatValue(a)})`; break;
      case 'g': s = typeof a === 'number' ? formatGoFloat(a, prec ?? -1) : formatValue(a); break;
      case 'e': s = typeof a === 'number' ? goExpFixed(a, prec ?? 6) : formatValue(a); break;
      case 'q': s = JSON.stringify(formatValue(a)); break;
      case 'x': s = typeof a === 'number' ? a.toString(16) : Buffer.from(formatValue(a)).toString('hex'); break;
      case 'X': s = typeof a === 'number' ? a.toString(16).toUpperCase() : Buffer.from(formatValue(a)).toString('hex').toUpperCase(); break;
      case 't': s = typeof a === 'boolean' ? String(a) : `%!t(${goType(a)}=${formatValue(a)})`; break;
      case 'c': s = typeof a === 'number' ? String.fromCodePoint(a) : formatValue(a); break;
      default: s = formatValue(a);
        if (prec !== undefined && verb === 's') s = [...s].slice(0, prec).join('');
    }
    if (flags.includes('+') && typeof a === 'number' && a >= 0 && 'dfge'.includes(verb)) s = `+${s}`;
    width ??= 0;
    const len = [...s].length;
    if (len < width) {
      if (flags.includes('-')) s = s + ' '.repeat(width - len);
      else if (flags.includes('0') && typeof a === 'number') s = (s.startsWith('-') ? '-' + '0'.repeat(width - len) + s.slice(1) : '0'.repeat(width - len) + s);
      else s = ' '.repeat(width - len) + s;
    }
    void all;
    return s;
  }) + (ai < args.length ? `%!(EXTRA ${args.slice(ai).map((a) => `${goType(a)}=${formatValue(a)}`).join(', ')})` : '');
}
function goExpFixed(x: number, prec: number): string {
  const [m, e] = x.toExponential(prec).split('e');
  return goExp(m, Number(e));
}

function basicEq(a: unknown, b: unknown): boolean {
  if (typeof a === 'object' && a !== null || typeof b === 'object' && b !== null) {
    throw new TemplateError('error calling eq: incompatible types for comparison');
  }
  return a === b || (a === undefined && b === null) || (a === null && b === undefined);
}
function compare(a: unknown, b: unknown, name: string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError(`error calling ${name}: incompatible types for comparison`);
}

/** Go's strings.Title: uppercase the first letter of each word. */
function title(s: string): string { return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase()); }

/** Docker's template functions (templates.basicFunctions). */
export const DOCKER_FUNCS: Record<string, TemplateFunc> = {
  // Docker's list contexts implement MarshalJSON via json.Marshal, which HTML-escapes; raw data does not.
  json: (v) => v && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function'
    ? htmlEscapeJson(jsonNoHtmlEscape(v)) : jsonNoHtmlEscape(v),
  split: (s, sep) => String(s).split(String(sep)),
  join: (list, sep) => (Array.isArray(list) ? list.map(formatValue) : [formatValue(list)]).join(String(sep)),
  title: (s) => title(String(s)),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  pad: (s, before, after) => ' '.repeat(Number(before)) + String(s) + ' '.repeat(Number(after)),
  truncate: (s, n) => { const a = [...String(s)]; return a.length > Number(n) ? a.slice(0, Number(n)).join('') : String(s); },
};

/** Header variants used when rendering a `table` header row (docker's HeaderFunctions). */
export const HEADER_FUNCS: Record<string, TemplateFunc> = {
  json: (v) => formatValue(v), split: (v) => formatValue(v), join: (v) => formatValue(v), title: (v) => formatValue(v),
  lower: (v) => formatValue(v), upper: (v) => formatValue(v), pad: (v) => formatValue(v), truncate: (v) => formatValue(v),
};

/** Go's json.Marshal escaping of <, >, & and U+2028/2029 (applied to already-encoded JSON). */
export function htmlEscapeJson(s: string): string {
  return s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON as Go's encoder with SetEscapeHTML(false) would print it (compact, no trailing newline). */
export function jsonNoHtmlEscape(v: unknown): string {
  const s = JSON.stringify(v === undefined ? null : v, (_k, val: unknown) => typeof val === 'function' ? (val as () => unknown)() : val);
  return s ?? 'null';
}

const BUILTINS: Record<string, TemplateFunc> = {
  and: (...a) => { for (const x of a) if (!truthy(x)) return x; return a[a.length - 1]; },
  or: (...a) => { for (const x of a) if (truthy(x)) return x; return a[a.length - 1]; },
  not: (a) => !truthy(a),
  len: (a) => {
    if (a === null || a === undefined) return 0;
    if (typeof a === 'string') return Buffer.byteLength(a);
    if (Array.isArray(a)) return a.length;
    if (a && typeof a === 'object') return Object.keys(a).length;
    throw new TemplateError(`error calling len: len of type ${goType(a)}`);
  },
  index: (a, ...keys) => {
    let v = a;
    for (const k of keys) {
      if (Array.isArray(v)) {
        const i = Number(k);
        if (!Number.isInteger(i) || i < 0 || i >= v.length) throw new TemplateError(`error calling index: index out of range: ${formatValue(k)}`);
        v = v[i];
      } else if (typeof v === 'string') v = v.charCodeAt(Number(k));
      else if (v && typeof v === 'object') v = (v as Record<string, unknown>)[String(k)];
      else if (v === undefined || v === null) throw new TemplateError('error calling index: index of untyped nil');
      else throw new TemplateError(`error calling index: can't index item of type ${goType(v)}`);
    }
    return v;
  },
  slice: (a, ...idx) => {
    const [i, j] = [Number(idx[0] ?? 0), idx[1] === undefined ? undefined : Number(idx[1])];
    if (typeof a === 'string' || Array.isArray(a)) return a.slice(i, j);
    throw new TemplateError(`error calling slice: can't slice item of type ${goType(a)}`);
  },
  print: (...a) => a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + formatValue(x)).join(''),
  println: (...a) => a.map(formatValue).join(' ') + '\n',
  printf: (f, ...a) => sprintf(String(f), ...a),
  eq: (a, ...bs) => { if (bs.length === 0) throw new TemplateError('error calling eq: missing argument for comparison'); return bs.some((b) => basicEq(a, b)); },
  ne: (a, b) => !basicEq(a, b),
  lt: (a, b) => compare(a, b, 'lt') < 0,
  le: (a, b) => compare(a, b, 'le') <= 0,
  gt: (a, b) => compare(a, b, 'gt') > 0,
  ge: (a, b) => compare(a, b, 'ge') >= 0,
  html: (a) => formatValue(a).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!),
  urlquery: (...a) => encodeURIComponent(a.map(formatValue).join('')),
};

export class Template {
  private readonly nodes: Node[];
  private readonly funcs: Record<string, TemplateFunc>;

  /** Go's Option("missingkey=error"), which docker inspect uses for raw JSON. */
  missingKeyError = false;

  constructor(readonly source: string, funcs: Record<string, TemplateFunc> = DOCKER_FUNCS) {
    this.funcs = { ...BUILTINS, ...funcs };
    this.nodes = new Parser(source).parse();
    this.checkFuncs(this.nodes);
  }

  private checkFuncs(nodes: Node[]): void {
    const checkPipe = (p: Pipe): void => {
      for (const cmd of p.cmds) for (const a of cmd) {
        if (a.kind === 'ident' && !(a.name in this.funcs)) throw new TemplateError(`template: :1: function "${a.name}" not defined`);
        if (a.kind === 'pipe') checkPipe(a.pipe);
      }
    };
    for (const n of nodes) {
      if (n.kind === 'action') checkPipe(n.pipe);
      else if (n.kind === 'if' || n.kind === 'with' || n.kind === 'range') {
        checkPipe(n.pipe); this.checkFuncs(n.list); if (n.elseList) this.checkFuncs(n.elseList);
      }
    }
  }

  execute(data: unknown): string {
    const out: string[] = [];
    const vars: [string, unknown][] = [['$', data]];
    this.walk(this.nodes, data, vars, out);
    return out.join('');
  }

  private walk(nodes: Node[], dot: unknown, vars: [string, unknown][], out: string[]): void {
    for (const n of nodes) {
      switch (n.kind) {
        case 'text': out.push(n.text); break;
        case 'action': {
          const v = this.evalPipe(n.pipe, dot, vars);
          if (n.pipe.decl.length === 0) out.push(v === null ? '<no value>' : formatValue(v));
          break;
        }
        case 'if': case 'with': {
          const mark = vars.length;
          const v = this.evalPipe(n.pipe, dot, vars);
          if (truthy(v)) this.walk(n.list, n.kind === 'with' ? v : dot, vars, out);
          else if (n.elseList) this.walk(n.elseList, dot, vars, out);
          vars.length = mark;
          break;
        }
        case 'range': {
          const mark = vars.length;
          const declared = n.pipe.decl;
          const v = this.evalPipe({ ...n.pipe, decl: [] }, dot, vars);
          let entries: [unknown, unknown][] = [];
          if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
          else if (typeof v === 'number') entries = Array.from({ length: v }, (_x, i) => [i, i]);
          else if (v && typeof v === 'object') entries = Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
          else if (v !== undefined && v !== null) throw new TemplateError(`template: :1: range can't iterate over ${formatValue(v)}`);
          if (entries.length === 0) { if (n.elseList) this.walk(n.elseList, dot, vars, out); break; }
          for (const [k, x] of entries) {
            vars.length = mark;
            if (declared.length === 1) vars.push([declared[0], x]);
            else if (declared.length === 2) { vars.push([declared[0], k]); vars.push([declared[1], x]); }
            try { this.walk(n.list, x, vars, out); } catch (e) {
              if (e instanceof Break) break;
              if (e instanceof Continue) continue;
              throw e;
            }
          }
          vars.length = mark;
          break;
        }
        case 'break': throw new Break();
        case 'continue': throw new Continue();
      }
    }
  }

  private evalPipe(pipe: Pipe, dot: unknown, vars: [string, unknown][]): unknown {
    let value: unknown;
    let hasValue = false;
    for (const cmd of pipe.cmds) {
      value = this.evalCmd(cmd, dot, vars, hasValue ? [value] : []);
      hasValue = true;
    }
    if (pipe.decl.length) {
      if (pipe.assign) {
        for (let i = vars.length - 1; i >= 0; i--) if (vars[i][0] === pipe.decl[0]) { vars[i][1] = value; break; }
      } else vars.push([pipe.decl[0], value]);
    }
    return value;
  }

  private evalCmd(cmd: Arg[], dot: unknown, vars: [string, unknown][], piped: unknown[]): unknown {
    const [first, ...rest] = cmd;
    if (first.kind === 'ident') {
      const f = this.funcs[first.name];
      const args = rest.map((a) => this.evalArg(a, dot, vars)).concat(piped);
      return f(...args);
    }
    if ((first.kind === 'field' || first.kind === 'var') && (rest.length || piped.length) && first.chain.length) {
      // Method call: the last element of the chain receives the arguments.
      const base = first.kind === 'field' ? dot : this.lookupVar(first.name, vars);
      const receiver = this.walkChain(base, first.chain.slice(0, -1));
      const name = first.chain[first.chain.length - 1];
      const m = receiver && typeof receiver === 'object' ? (receiver as Record<string, unknown>)[name] : undefined;
      if (typeof m !== 'function') throw new TemplateError(`template: :1: can't give argument to non-function .${name}`);
      return (m as TemplateFunc).call(receiver, ...rest.map((a) => this.evalArg(a, dot, vars)), ...piped);
    }
    if (rest.length || piped.length) throw new TemplateError(`template: :1: can't give argument to non-function ${this.describe(first)}`);
    return this.evalArg(first, dot, vars);
  }

  private describe(a: Arg): string {
    if (a.kind === 'field') return '.' + a.chain.join('.');
    if (a.kind === 'var') return a.name;
    if (a.kind === 'string') return JSON.stringify(a.value);
    return a.kind;
  }

  private lookupVar(name: string, vars: [string, unknown][]): unknown {
    for (let i = vars.length - 1; i >= 0; i--) if (vars[i][0] === name) return vars[i][1];
    throw new TemplateError(`template: :1: undefined variable: ${name}`);
  }

  private evalArg(a: Arg, dot: unknown, vars: [string, unknown][]): unknown {
    switch (a.kind) {
      case 'field': return this.walkChain(dot, a.chain, a.pos);
      case 'var': return this.walkChain(this.lookupVar(a.name, vars), a.chain);
      case 'string': return a.value;
      case 'number': return a.value;
      case 'bool': return a.value;
      case 'nil': return null;
      case 'ident': return this.funcs[a.name]();
      case 'pipe': return this.walkChain(this.evalPipe(a.pipe, dot, vars), a.chain);
    }
  }

  private walkChain(base: unknown, chain: string[], pos?: number): unknown {
    let v = base;
    const at = (): string => {
      const before = this.source.slice(0, pos ?? 0);
      const line = before.split('\n').length;
      const col = (pos ?? 0) - (before.lastIndexOf('\n') + 1);
      return `template: :${line}:${col}: executing "" at <.${chain.join('.')}>`;
    };
    for (const name of chain) {
      if (v === undefined || v === null) throw new TemplateError(`${at()}: nil pointer evaluating interface {}.${name}`);
      if (typeof v !== 'object') throw new TemplateError(`${at()}: can't evaluate field ${name} in type ${goType(v)}`);
      if (this.missingKeyError && !Array.isArray(v) && !(name in (v as object))) {
        throw new TemplateError(`${at()}: map has no entry for key "${name}"`);
      }
      const next = (v as Record<string, unknown>)[name];
      v = typeof next === 'function' ? (next as () => unknown).call(v) : next;
    }
    return v;
  }

}

/** Parses and executes in one go. */
export function renderTemplate(source: string, data: unknown, funcs?: Record<string, TemplateFunc>): string {
  return new Template(source, funcs).execute(data);
}
