/**
 * Docker-style (spf13/pflag) flag parsing: `--name value`, `--name=value`, `-n value`, `-nvalue`,
 * combined short booleans (`-it`, `-dit`), `--bool=false`, repeatable list flags (`-e A -e B`),
 * `--` ends flags, and for commands like run/exec flag parsing stops at the first positional
 * argument (the image or container) so the command's own flags pass through untouched.
 */

export type FlagType = 'bool' | 'string' | 'int' | 'list';

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  type: FlagType;
  default?: string | number | boolean;
  description?: string;
  /** Extra long names accepted for the same flag (e.g. --tlscacert / --tls-ca-cert). */
  aliases?: string[];
  hidden?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedFlags {
  flags: FlagValues;
  /** Names of the flags the user actually set. */
  changed: Set<string>;
  args: string[];
}

export class FlagError extends Error {}

export interface ParseOptions {
  /** Stop at the first positional argument (docker run/exec/create: interspersed = false). */
  stopAtFirstArg?: boolean;
}

function parseBool(v: string, name: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new FlagError(`invalid argument "${v}" for "--${name}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

function parseInt10(v: string, spec: FlagSpec): number {
  if (!/^[+-]?\d+$/.test(v)) {
    const short = spec.short ? `-${spec.short}, ` : '';
    throw new FlagError(`invalid argument "${v}" for "${short}--${spec.name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  }
  return Number(v);
}

export function parseFlags(specs: FlagSpec[], argv: string[], opts: ParseOptions = {}): ParsedFlags {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const flags: FlagValues = {};
  const changed = new Set<string>();
  for (const s of specs) {
    if (s.type === 'list') flags[s.name] = [];
    else if (s.default !== undefined) flags[s.name] = s.default;
    else if (s.type === 'bool') flags[s.name] = false;
  }
  const set = (spec: FlagSpec, value: string): void => {
    changed.add(spec.name);
    switch (spec.type) {
      case 'bool': flags[spec.name] = parseBool(value, spec.name); break;
      case 'int': flags[spec.name] = parseInt10(value, spec); break;
      case 'list': (flags[spec.name] as string[]).push(value); break;
      default: flags[spec.name] = value;
    }
  };
  const args: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i++];
    if (a === '--') { args.push(...argv.slice(i)); break; }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byLong.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, a.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, 'true');
      else {
        if (i >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
        set(spec, argv[i++]);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // Short flags, possibly combined: -it, -dit, -p80:80, -e=X (pflag allows -e=X).
      let j = 1;
      while (j < a.length) {
        const c = a[j];
        const spec = byShort.get(c);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
        const rest = a.slice(j + 1);
        if (spec.type === 'bool') {
          if (rest.startsWith('=')) { set(spec, rest.slice(1)); break; }
          set(spec, 'true'); j++; continue;
        }
        if (rest.length > 0) set(spec, rest.startsWith('=') ? rest.slice(1) : rest);
        else {
          if (i >= argv.length) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
          set(spec, argv[i++]);
        }
        break;
      }
      continue;
    }
    args.push(a);
    if (opts.stopAtFirstArg) { args.push(...argv.slice(i)); break; }
  }
  return { flags, changed, args };
}

/** Splits "KEY=VALUE" (value may contain '='); a bare KEY has value undefined. */
export function splitKeyValue(s: string): [string, string | undefined] {
  const i = s.indexOf('=');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** Docker's filter flags (`--filter a=b --filter a=c`) to the API's map of lists. */
export function filtersFromFlags(values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const [k, val] = splitKeyValue(v);
    if (val === undefined) throw new FlagError(`bad format of filter (expected name=value)`);
    const key = k.trim().toLowerCase();
    (out[key] ??= []).push(val);
  }
  return out;
}
