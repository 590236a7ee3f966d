/** Instruction flags (--from=x, --link, --mount=... repeated), checked the way BuildKit's BFlags does. */
import { withSuggestion } from './errors.js';

type FlagKind = 'bool' | 'string' | 'strings';

export class InstructionFlags {
  private readonly defs = new Map<string, FlagKind>();
  private readonly values = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();
  private readonly usedNames: string[] = [];

  constructor(private readonly args: readonly string[]) {}

  bool(name: string): this { this.defs.set(name, 'bool'); return this; }
  string(name: string): this { this.defs.set(name, 'string'); return this; }
  strings(name: string): this { this.defs.set(name, 'strings'); return this; }

  /** Validates the flags; returns the error message Docker gives, or undefined. */
  parse(): string | undefined {
    const seen = new Set<string>();
    for (const arg of this.args) {
      if (!arg.startsWith('--')) return `arg should start with -- : ${arg}`;
      if (arg === '--') return undefined;
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const value = eq >= 0 ? body.slice(eq + 1) : '';
      const kind = this.defs.get(name);
      if (!kind) return withSuggestion(`unknown flag: ${name}`, name, [...this.defs.keys()], true);
      if (seen.has(name) && kind !== 'strings') return `duplicate flag specified: ${name}`;
      seen.add(name);
      if (!this.usedNames.includes(name)) this.usedNames.push(name);
      switch (kind) {
        case 'bool': {
          if (eq >= 0 && value === '') return `missing a value on flag: ${name}`;
          const lower = value.toLowerCase();
          if (lower === '' || lower === 'true') this.values.set(name, 'true');
          else if (lower === 'false') this.values.set(name, 'false');
          else return `expecting boolean value for flag ${name}, not: ${value}`;
          break;
        }
        case 'string':
          if (eq < 0) return `missing a value on flag: ${name}`;
          this.values.set(name, value);
          break;
        case 'strings':
          if (eq < 0) return `missing a value on flag: ${name}`;
          this.lists.set(name, [...(this.lists.get(name) ?? []), value]);
          break;
      }
    }
    return undefined;
  }

  get(name: string): string | undefined { return this.values.get(name); }
  isTrue(name: string): boolean { return this.values.get(name) === 'true'; }
  list(name: string): string[] { return this.lists.get(name) ?? []; }
  used(): string[] { return [...this.usedNames]; }
}
