/** pflag-style command line parsing for berth compose, and the errors that carry an exit code. */

export class UsageError extends Error {}

export class ExitError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** A flag spec: name(s) and whether it takes a value. */
export interface FlagSpec {
  names: string[];
  value: boolean;
  repeat?: boolean;
}

export type Parsed = { flags: Map<string, string[]>; rest: string[] };

/**
 * pflag-style parsing: `-f x`, `-fx`, `-f=x`, `--file x`, `--file=x`; boolean short flags may be grouped.
 * Stops at the first positional argument when `stopAtPositional` (global flags before the command).
 */
export function parseFlags(args: string[], specs: FlagSpec[], stopAtPositional: boolean): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) for (const n of s.names) byName.set(n, s);
  const flags = new Map<string, string[]>();
  const rest: string[] = [];
  const set = (spec: FlagSpec, v: string): void => {
    const key = spec.names[0];
    const list = flags.get(key) ?? [];
    if (spec.repeat) list.push(v);
    else list.splice(0, list.length, v);
    flags.set(key, list);
  };
  let i = 0;
  while (i < args.length) {
    const a = args[i];
    if (a === '--') { rest.push(...args.slice(i + 1)); break; }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byName.get(`--${name}`);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.value) {
        const v: string | undefined = eq >= 0 ? a.slice(eq + 1) : args[++i];
        if (v === undefined) throw new UsageError(`flag needs an argument: --${name}`);
        set(spec, v);
      } else {
        set(spec, eq >= 0 ? a.slice(eq + 1) : 'true');
      }
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && a !== '-') {
      let j = 1;
      while (j < a.length) {
        const spec = byName.get(`-${a[j]}`);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${a[j]}' in ${a}`);
        if (spec.value) {
          let v = a.slice(j + 1);
          if (v.startsWith('=')) v = v.slice(1);
          if (v === '') {
            const next = args[++i];
            if (next === undefined) throw new UsageError(`flag needs an argument: '${a[j]}' in -${a[j]}`);
            v = next;
          }
          set(spec, v);
          break;
        }
        set(spec, 'true');
        j++;
      }
      i++;
      continue;
    }
    if (stopAtPositional) { rest.push(...args.slice(i)); break; }
    rest.push(a);
    i++;
  }
  return { flags, rest };
}

