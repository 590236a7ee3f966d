/**
 * Which instruction arguments the builder expands, and with which variables, as Docker does:
 * ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR ARG (and RUN --mount values)
 * are expanded; RUN CMD ENTRYPOINT SHELL HEALTHCHECK MAINTAINER ONBUILD are not (the shell does
 * it at run time). All variables in one instruction see the values from before it
 * (`ENV a=1 b=$a` uses the previous a).
 */
import { InvalidParameterError } from '../../errors/index.js';
import { parseRunMount, type ArgInstruction, type Command, type Instruction, type InlineFile, type RunInstruction, type Stage } from './instructions.js';
import { parseHeredoc } from './parser.js';
import { ShellLex, toEnvGetter, type EnvInput } from './shell-lex.js';

/** Build args usable without an ARG line; left out of history and cache keys unless declared. */
export const PREDEFINED_ARGS: readonly string[] = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
];

/**
 * Build-arg bookkeeping with Docker's scoping rules (moby builder/dockerfile/buildargs.go):
 * - global ARGs (before the first FROM) are visible to FROM lines only;
 * - inside a stage an ARG must be declared to be visible; `ARG NAME` without a default
 *   inherits the global ARG's value; a --build-arg value overrides any default;
 * - the predefined proxy args come from --build-arg only.
 */
export class BuildArgs {
  private readonly metaArgs = new Map<string, string | undefined>();
  private readonly stageArgs = new Map<string, string | undefined>();
  private readonly referenced = new Set<string>();

  constructor(private readonly options: ReadonlyMap<string, string | undefined> = new Map()) {}

  static fromRecord(buildArgs: Record<string, string | null | undefined>): BuildArgs {
    const m = new Map<string, string | undefined>();
    for (const [k, v] of Object.entries(buildArgs)) m.set(k, v ?? undefined);
    return new BuildArgs(m);
  }

  /** A copy with the same options and global ARGs but no stage ARGs: what each new stage starts with. */
  forNewStage(): BuildArgs {
    const b = new BuildArgs(this.options);
    for (const [k, v] of this.metaArgs) b.metaArgs.set(k, v);
    for (const k of this.referenced) b.referenced.add(k);
    return b;
  }

  /** After a stage: record the ARGs it declared, so unusedOptions() knows them (moby's MergeReferencedArgs). */
  mergeReferencedArgs(stage: BuildArgs): void {
    for (const k of stage.referenced) this.referenced.add(k);
  }

  addMetaArg(key: string, value: string | undefined): void {
    this.metaArgs.set(key, value);
  }

  addArg(key: string, value: string | undefined): void {
    this.stageArgs.set(key, value);
    this.referenced.add(key);
  }

  /** True when the stage has declared this ARG. */
  isDeclared(key: string): boolean {
    return this.stageArgs.has(key);
  }

  /** Whether a value belongs in history/cache keys: declared, or not one of the predefined proxy args. */
  isReferencedOrNotBuiltin(key: string): boolean {
    return this.stageArgs.has(key) || !PREDEFINED_ARGS.includes(key);
  }

  private lookup(key: string, mapping: Map<string, string | undefined>): string | undefined {
    const opt = this.options.get(key);
    if (opt !== undefined) return opt;
    const def = mapping.get(key);
    if (def === undefined) return this.metaArgs.get(key);
    return def;
  }

  private all(mapping: Map<string, string | undefined>): Map<string, string> {
    const out = new Map<string, string>();
    const keys = new Set<string>([...mapping.keys(), ...PREDEFINED_ARGS]);
    for (const key of keys) {
      // the predefined args are only set from options; others need to be in the mapping
      if (!mapping.has(key) && this.options.get(key) === undefined) continue;
      const v = this.lookup(key, mapping);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  /** Values for the ARGs visible in the current stage (plus predefined args given as options). */
  getAllAllowed(): Map<string, string> {
    return this.all(this.stageArgs);
  }

  /** Values of the global ARGs (for FROM). */
  getAllMeta(): Map<string, string> {
    return this.all(this.metaArgs);
  }

  /** Allowed args as KEY=value, without those an ENV in `runConfigEnv` overrides. */
  filterAllowed(runConfigEnv: readonly string[]): string[] {
    const envKeys = new Set(runConfigEnv.map((e) => e.split('=')[0]!));
    const out: string[] = [];
    for (const [k, v] of this.getAllAllowed()) if (!envKeys.has(k)) out.push(`${k}=${v}`);
    return out;
  }

  /** --build-arg names the Dockerfile never declared (Docker warns about them). */
  unusedOptions(): string[] {
    return [...this.options.keys()].filter((k) => !this.referenced.has(k) && !this.metaArgs.has(k) && !PREDEFINED_ARGS.includes(k)).sort();
  }
}

/** The env Docker expands instruction arguments with: the image's ENV, then stage ARGs not shadowed by ENV. */
export function expansionEnv(runConfigEnv: readonly string[], args: BuildArgs): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of [...args.filterAllowed(runConfigEnv), ...runConfigEnv]) {
    const i = kv.indexOf('=');
    m.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1));
  }
  return m;
}

/** BuildKit's automatic platform ARGs (TARGETPLATFORM, BUILDARCH, ...), global scope. */
export function platformArgs(target: string, build: string = target): Map<string, string> {
  const m = new Map<string, string>();
  const put = (prefix: string, p: string) => {
    const [os = '', arch = '', variant = ''] = p.split('/');
    m.set(`${prefix}PLATFORM`, p);
    m.set(`${prefix}OS`, os);
    m.set(`${prefix}ARCH`, arch);
    m.set(`${prefix}VARIANT`, variant);
  };
  put('TARGET', target);
  put('BUILD', build);
  return m;
}

/** Applies the global ARG lines in order, expanding each default with the ARGs before it. */
export function applyMetaArgs(metaArgs: readonly ArgInstruction[], args: BuildArgs, escapeToken = '\\'): void {
  const lex = new ShellLex(escapeToken);
  for (const inst of metaArgs) {
    for (const def of inst.args) {
      let value = def.value;
      if (value !== undefined) value = lex.processWord(value, args.getAllMeta());
      args.addMetaArg(def.key, value);
    }
  }
}

/** FROM's image and platform expanded with the global ARGs only. */
export function expandFrom(stage: Stage, args: BuildArgs, escapeToken = '\\'): { image: string; platform?: string } {
  const lex = new ShellLex(escapeToken);
  const env = args.getAllMeta();
  const image = lex.processWord(stage.baseName, env);
  if (image === '') throw new InvalidParameterError(`base name (${stage.baseName}) should not be blank`);
  const platform = stage.platform === undefined ? undefined : lex.processWord(stage.platform, env);
  return { image, platform: platform || undefined };
}

/**
 * Returns a copy of `inst` with the arguments Docker expands expanded with `env`
 * (use expansionEnv()). Instructions Docker does not expand come back unchanged.
 * EXPOSE is the one instruction whose words may split (`EXPOSE $PORTS` with PORTS="80 443").
 */
export function expandInstruction<T extends Instruction>(inst: T, envInput: EnvInput, escapeToken = '\\'): T {
  const lex = new ShellLex(escapeToken);
  const env = toEnvGetter(envInput);
  const w = (s: string) => lex.processWord(s, env);
  const opt = (s: string | undefined) => (s === undefined ? undefined : w(s));
  const i = inst as Instruction;
  switch (i.kind) {
    case 'env':
      return { ...i, env: i.env.map((kv) => ({ ...kv, key: w(kv.key), value: w(kv.value) })) } as T;
    case 'label':
      return { ...i, labels: i.labels.map((kv) => ({ ...kv, key: w(kv.key), value: w(kv.value) })) } as T;
    case 'add':
      return {
        ...i, sources: i.sources.map(w), dest: w(i.dest), chown: opt(i.chown), chmod: opt(i.chmod),
        checksum: opt(i.checksum), excludes: i.excludes.map(w), contents: expandContents(i.contents, env),
      } as T;
    case 'copy':
      return {
        ...i, sources: i.sources.map(w), dest: w(i.dest), chown: opt(i.chown), chmod: opt(i.chmod),
        excludes: i.excludes.map(w), contents: expandContents(i.contents, env),
      } as T;
    case 'expose':
      return { ...i, ports: i.ports.flatMap((p) => lex.processWords(p, env)) } as T;
    case 'stopsignal':
      return { ...i, signal: w(i.signal) } as T;
    case 'user':
      return { ...i, user: w(i.user) } as T;
    case 'workdir':
      return { ...i, path: w(i.path) } as T;
    case 'volume':
      return { ...i, volumes: i.volumes.map(w) } as T;
    case 'arg':
      return { ...i, args: i.args.map((a) => ({ key: w(a.key), value: opt(a.value) })) } as T;
    case 'run': {
      let mounts = i.mounts;
      try {
        mounts = i.mountSpecs.map((m) => parseRunMount(m, w));
      } catch (e) {
        if (e instanceof InvalidParameterError) throw e;
        throw new InvalidParameterError((e as Error).message);
      }
      return { ...i, mounts } as T;
    }
    default:
      return inst; // from (see expandFrom), cmd, entrypoint, shell, healthcheck, maintainer, onbuild
  }
}

/** Heredoc bodies with unquoted delimiters: $VAR expanded, quotes left alone (BuildKit's ExpandRaw). */
function expandContents(files: InlineFile[], env: ReturnType<typeof toEnvGetter>): InlineFile[] {
  const lex = new ShellLex('\\', { skipProcessQuotes: true });
  return files.map((f) => (f.expand ? { ...f, data: lex.processWord(f.data, env) } : f));
}

/** Expands a heredoc body as COPY/ADD <<EOF does. */
export function expandHeredocContent(data: string, env: EnvInput): string {
  return new ShellLex('\\', { skipProcessQuotes: true }).processWord(data, env);
}

/**
 * What a RUN with heredocs executes, as BuildKit arranges it:
 * - `RUN <<EOF` whose body starts with `#!`: write the body to a file and execute it;
 * - `RUN <<EOF` otherwise: the body is the shell script;
 * - other forms (`RUN python3 <<EOF`, several heredocs): the line and bodies are joined
 *   into one script for the shell, which feeds the heredocs itself.
 * Returns undefined for a RUN without heredocs.
 */
export function runHeredocCommand(run: RunInstruction):
  | { kind: 'script'; script: string }
  | { kind: 'file'; name: string; data: string }
  | undefined {
  if (run.files.length === 0 || !run.prependShell) return undefined;
  if (run.command.length !== 1) {
    throw new InvalidParameterError(`parsing produced an invalid run command: [${run.command.join(' ')}]`);
  }
  const first = run.files[0]!;
  if (parseHeredoc(run.command[0]!)) {
    if (first.data.startsWith('#!')) return { kind: 'file', name: first.name, data: first.data };
    return { kind: 'script', script: first.data };
  }
  let full = run.command[0]!;
  for (const f of run.files) full += '\n' + f.data + f.name;
  return { kind: 'script', script: full };
}

/** Instructions whose arguments Docker's builder expands. */
export const EXPANDED_INSTRUCTIONS: ReadonlySet<string> = new Set([
  'add', 'arg', 'copy', 'env', 'expose', 'from', 'label', 'stopsignal', 'user', 'volume', 'workdir',
]);

export type { Command };
