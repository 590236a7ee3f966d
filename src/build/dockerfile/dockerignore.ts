/**
 * .dockerignore with Docker's semantics (moby/patternmatcher + ignorefile, and the docker
 * CLI's context walk): filepath.Match-style `*` `?` `[...]` within one path segment, `**`
 * across segments, `!` exceptions evaluated in order (the last matching pattern wins),
 * patterns cleaned like filepath.Clean (so `./a`, `/a`, `a/` all mean `a`), a pattern
 * matching a directory also matches everything below it, and lines starting with `#`
 * are comments. Paths are context-relative with forward slashes.
 */
import { RE2JS } from 're2js';
import { readdirSync, lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import { InvalidParameterError } from '../../errors/index.js';

/** Reads .dockerignore text into cleaned patterns, like ignorefile.ReadAll. */
export function readDockerignore(text: string): string[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const out: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line.startsWith('#')) continue; // only a '#' in the first column starts a comment
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern[0] === '!';
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    out.push(invert ? '!' + pattern : pattern);
  }
  return out;
}

/** Go's filepath.Clean for slash paths. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  if (n === '/') return '/';
  const trimmed = n.endsWith('/') ? n.slice(0, -1) : n;
  return trimmed === '' ? '.' : trimmed;
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Pattern {
  cleaned: string;
  exclusion: boolean;
  dirs: string[];
  type: MatchType;
  regexp?: RE2JS;
}

const REGEX_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

/** Validates like Go's filepath.Match(pattern, "."), returning true when the syntax is bad. */
function badPattern(p: string): boolean {
  const chars = Array.from(p);
  let i = 0;
  for (; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      if (i + 1 >= chars.length) return true;
      i++;
    } else if (c === '[') {
      i++;
      if (chars[i] === '^') i++;
      let n = 0;
      for (;;) {
        if (i >= chars.length) return true;
        if (chars[i] === ']' && n > 0) break;
        const lo = escChar();
        if (lo === undefined) return true;
        if (chars[i] === '-') {
          i++;
          const hi = escChar();
          if (hi === undefined || hi < lo) return true;
        }
        n++;
      }
    }
  }
  return false;

  function escChar(): string | undefined {
    const c = chars[i];
    if (c === undefined || c === '-' || c === ']') return undefined;
    if (c === '\\') {
      i++;
      if (i >= chars.length) return undefined;
    }
    return chars[i++];
  }
}

function compile(cleaned: string): { type: MatchType; regexp?: RE2JS } {
  let reg = '^';
  let type: MatchType = 'exact';
  const chars = Array.from(cleaned);
  // `iter` counts loop turns, not characters: a ** found on the first turn makes a suffix match
  for (let i = 0, iter = 0; i < chars.length; i++, iter++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++; // treat **/ as **
        if (i + 1 >= chars.length) {
          // a trailing ** matches everything below, like .gitignore
          if (type === 'exact') type = 'prefix';
          else {
            reg += '.*';
            type = 'regexp';
          }
        } else {
          reg += '(.*/)?'; // any number of directories, even none
          type = 'regexp';
        }
        if (iter === 0) type = 'suffix';
      } else {
        reg += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      reg += '[^/]';
      type = 'regexp';
    } else if (REGEX_ESCAPE.has(ch)) {
      reg += '\\' + ch;
    } else if (ch === '\\') {
      if (i + 1 < chars.length) {
        reg += '\\' + chars[++i];
        type = 'regexp';
      } else {
        reg += '\\\\';
      }
    } else if (ch === '[' || ch === ']') {
      reg += ch;
      type = 'regexp';
    } else {
      reg += ch;
    }
  }
  if (type === 'regexp') {
    reg += '$';
    try {
      return { type, regexp: RE2JS.compile(reg) };   // RE2, as Go's: linear time whatever the pattern
    } catch {
      throw new InvalidParameterError('syntax error in pattern');
    }
  }
  return { type };
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.type) {
    case 'exact':
      return path === p.cleaned;
    case 'prefix':
      return path.startsWith(p.cleaned.slice(0, -2));
    case 'suffix': {
      const suffix = p.cleaned.slice(2);
      if (path.endsWith(suffix)) return true;
      return suffix[0] === '/' && path === suffix.slice(1); // **/foo matches foo
    }
    case 'regexp':
      return p.regexp!.matcher(path).find();
  }
}

/** Per-pattern results for a directory, passed down to its children while walking. */
export interface MatchInfo {
  parentMatched: boolean[];
}

export interface IgnoreMatcher {
  /** The cleaned patterns, `!` kept on exceptions. */
  readonly patterns: readonly string[];
  /** True when there is at least one `!` exception. */
  readonly hasExceptions: boolean;
  /**
   * True when relPath is excluded from the context. isDir is accepted for callers'
   * convenience; Docker's patterns do not distinguish files from directories.
   */
  ignores(relPath: string, isDir?: boolean): boolean;
  /** The docker CLI's walk-time form: pass the parent directory's info for its children. */
  matchWithParent(relPath: string, parent?: MatchInfo): { ignored: boolean; info: MatchInfo };
  /**
   * For an ignored directory: true when the walk may skip it entirely, false when an
   * exception (`!dir/keep`) may re-include something below it.
   */
  canSkipDir(relDir: string): boolean;
}

function normalizeRel(p: string): string {
  const c = cleanPath(p);
  return c.startsWith('/') && c.length > 1 ? c.slice(1) : c;
}

/** Builds a matcher from .dockerignore text (or already-read patterns). */
export function createIgnoreMatcher(input: string | readonly string[]): IgnoreMatcher {
  const lines = typeof input === 'string' ? readDockerignore(input) : input;
  const patterns: Pattern[] = [];
  for (const raw of lines) {
    let p = raw.trim();
    if (p === '') continue;
    p = cleanPath(p);
    let exclusion = false;
    if (p[0] === '!') {
      if (p.length === 1) throw new InvalidParameterError('illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    if (badPattern(p)) throw new InvalidParameterError('syntax error in pattern');
    patterns.push({ cleaned: p, exclusion, dirs: p.split('/'), ...compile(p) });
  }
  const hasExceptions = patterns.some((p) => p.exclusion);

  const parentDirsMatch = (p: Pattern, file: string): boolean => {
    const parent = posix.dirname(file);
    if (parent === '.') return false;
    const parts = parent.split('/');
    for (let i = 0; i < parts.length; i++) {
      if (matchOne(p, parts.slice(0, i + 1).join('/'))) return true;
    }
    return false;
  };

  return {
    patterns: patterns.map((p) => (p.exclusion ? '!' : '') + p.cleaned),
    hasExceptions,
    ignores(relPath: string): boolean {
      const file = normalizeRel(relPath);
      if (file === '.') return false; // the context root is never excluded
      let matched = false;
      for (const p of patterns) {
        // an include pattern cannot change a match, an exception cannot change a non-match
        if (p.exclusion !== matched) continue;
        const m = matchOne(p, file) || parentDirsMatch(p, file);
        if (m) matched = !p.exclusion;
      }
      return matched;
    },
    matchWithParent(relPath: string, parent?: MatchInfo) {
      const file = normalizeRel(relPath);
      const info: MatchInfo = { parentMatched: new Array(patterns.length).fill(false) };
      let matched = false;
      patterns.forEach((p, i) => {
        let m = parent ? parent.parentMatched[i] ?? false : false;
        if (!m) {
          if (p.exclusion !== matched) return;
          m = matchOne(p, file);
          if (!m && !parent) m = parentDirsMatch(p, file);
        }
        info.parentMatched[i] = m;
        if (m) matched = !p.exclusion;
      });
      return { ignored: matched, info };
    },
    canSkipDir(relDir: string): boolean {
      if (!hasExceptions) return true;
      const dirSlash = normalizeRel(relDir) + '/';
      // Docker compares literally: an exception that starts with this directory keeps it.
      return !patterns.some((p) => p.exclusion && (p.cleaned + '/').startsWith(dirSlash));
    },
  };
}

/**
 * The docker CLI never leaves out the Dockerfile (unless it comes from stdin) or
 * .dockerignore: when the patterns would exclude them, exceptions are appended
 * (cli/command/image/build.TrimBuildFilesFromExcludes).
 */
export function trimBuildFilesFromExcludes(patterns: readonly string[], dockerfile: string, dockerfileFromStdin = false): string[] {
  const out = [...patterns];
  if (createIgnoreMatcher(out).ignores('.dockerignore')) out.push('!.dockerignore');
  const df = dockerfile;
  if (!dockerfileFromStdin && createIgnoreMatcher(out).ignores(df)) out.push('!' + df);
  return out;
}

/**
 * What the daemon drops from a received context: `.dockerignore` and the Dockerfile when the
 * original patterns exclude them (moby builder/remotecontext removeDockerfile). They were sent
 * only so the builder could read them.
 */
export function filesDaemonRemovesFromContext(patterns: readonly string[], dockerfile = 'Dockerfile'): string[] {
  const m = createIgnoreMatcher(patterns);
  return ['.dockerignore', dockerfile].filter((f) => m.ignores(f));
}

export interface ContextEntry {
  /** Context-relative path with forward slashes. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
}

/**
 * Lists a build context directory as the docker CLI sends it: depth-first in name order,
 * excluded files left out, excluded directories skipped whole unless an exception may
 * re-include something below them (then only their included contents are listed).
 */
export function walkBuildContext(root: string, matcher: IgnoreMatcher): ContextEntry[] {
  const out: ContextEntry[] = [];
  const walk = (rel: string, parent: MatchInfo | undefined) => {
    const names = readdirSync(rel ? join(root, rel) : root).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const type: ContextEntry['type'] = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      const { ignored, info } = matcher.matchWithParent(path, parent);
      if (ignored) {
        if (type === 'dir' && !matcher.canSkipDir(path)) walk(path, info);
        continue;
      }
      out.push({ path, type });
      if (type === 'dir') walk(path, info);
    }
  };
  walk('', undefined);
  return out;
}
