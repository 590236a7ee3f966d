/**
 * Typed instructions and build stages from parser nodes, with the checks Docker makes
 * (argument counts, flags, HEALTHCHECK options, stage names). Values are NOT expanded
 * here; see expand.ts for the variable rules applied at build time.
 */
import { DockerfileParseError, withSuggestion } from './errors.js';
import { InstructionFlags } from './flags.js';
import { chompHeredocContent, parseDockerfileAst, parseHeredoc, type DockerfileNode, type Heredoc } from './parser.js';
import { parseGoDuration } from './duration.js';
import { goQuote } from './go-format.js';

export const INSTRUCTION_NAMES = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label',
  'maintainer', 'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
] as const;
export type InstructionName = (typeof INSTRUCTION_NAMES)[number];

interface Base {
  /** 1-based source lines (inclusive). */
  startLine: number;
  endLine: number;
  /** The logical source line, e.g. for build step messages ("Step 2/7 : RUN make"). */
  original: string;
  /** The node the instruction was made from. */
  node: DockerfileNode;
}

export interface KeyValuePair { key: string; value: string; /** legacy `KEY value` form */ noDelim: boolean }
export interface ArgDefinition { key: string; /** undefined: declared without a default */ value?: string }

/** A heredoc used as an inline file (COPY <<EOF /dest) or a RUN script. */
export interface InlineFile {
  /** The heredoc delimiter, used as the file name for COPY/ADD. */
  name: string;
  /** Body, tabs already stripped for <<- . */
  data: string;
  /** Whether ${VAR} in the body are expanded by the builder (unquoted delimiter). */
  expand: boolean;
  chomp: boolean;
}

export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  from?: string;
  source?: string;
  target?: string;
  readOnly: boolean;
  /** Cache id or secret id. */
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  required: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs size in bytes. */
  size?: number;
  /** secret exposed as an environment variable. */
  env?: string;
}

export interface FromInstruction extends Base { kind: 'from'; image: string; stageName?: string; platform?: string }
export interface RunInstruction extends Base {
  kind: 'run';
  /** Exec form: argv. Shell form: one string for the SHELL. */
  command: string[];
  prependShell: boolean;
  files: InlineFile[];
  /** Raw --mount values; parsed (without expansion) in `mounts`. */
  mountSpecs: string[];
  mounts: RunMount[];
  network?: 'default' | 'none' | 'host';
  security?: 'sandbox' | 'insecure';
  devices: string[];
  flagsUsed: string[];
}
export interface CmdInstruction extends Base { kind: 'cmd'; command: string[]; prependShell: boolean; files: InlineFile[] }
export interface EntrypointInstruction extends Base {
  kind: 'entrypoint';
  /** undefined for an empty ENTRYPOINT (it resets the entrypoint). */
  command: string[] | undefined;
  prependShell: boolean;
  files: InlineFile[];
}
export interface ShellInstruction extends Base { kind: 'shell'; shell: string[] }
export interface LabelInstruction extends Base { kind: 'label'; labels: KeyValuePair[] }
export interface EnvInstruction extends Base { kind: 'env'; env: KeyValuePair[] }
export interface MaintainerInstruction extends Base { kind: 'maintainer'; maintainer: string }
export interface ExposeInstruction extends Base { kind: 'expose'; ports: string[] }
export interface AddInstruction extends Base {
  kind: 'add';
  sources: string[];
  contents: InlineFile[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  keepGitDir: boolean;
  checksum?: string;
  excludes: string[];
  /** undefined: Docker's default (unpack local archives, not remote ones). */
  unpack?: boolean;
}
export interface CopyInstruction extends Base {
  kind: 'copy';
  sources: string[];
  contents: InlineFile[];
  dest: string;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  excludes: string[];
}
export interface VolumeInstruction extends Base { kind: 'volume'; volumes: string[] }
export interface UserInstruction extends Base { kind: 'user'; user: string }
export interface WorkdirInstruction extends Base { kind: 'workdir'; path: string }
export interface ArgInstruction extends Base { kind: 'arg'; args: ArgDefinition[] }
export interface OnbuildInstruction extends Base { kind: 'onbuild'; expression: string }
export interface StopSignalInstruction extends Base { kind: 'stopsignal'; signal: string }
/** Durations in nanoseconds, as in the Engine API's HealthConfig; 0 = inherit/default. */
export interface HealthConfig {
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface HealthcheckInstruction extends Base { kind: 'healthcheck'; health: HealthConfig }

export type Instruction =
  | FromInstruction | RunInstruction | CmdInstruction | EntrypointInstruction | ShellInstruction
  | LabelInstruction | EnvInstruction | MaintainerInstruction | ExposeInstruction | AddInstruction
  | CopyInstruction | VolumeInstruction | UserInstruction | WorkdirInstruction | ArgInstruction
  | OnbuildInstruction | StopSignalInstruction | HealthcheckInstruction;

/** Instructions that can appear inside a stage. */
export type Command = Exclude<Instruction, FromInstruction>;

export interface Stage {
  /** Lower-cased `AS name`, undefined when unnamed. */
  name?: string;
  /** Position in the Dockerfile (0-based), usable as `COPY --from=<index>`. */
  index: number;
  /** The image as written (before ARG expansion), or "scratch". */
  baseName: string;
  platform?: string;
  from: FromInstruction;
  commands: Command[];
}

export interface DockerfileStages {
  /** ARG instructions before the first FROM (global scope). */
  metaArgs: ArgInstruction[];
  stages: Stage[];
}

/** An error inside one instruction; parseInstruction adds the line. */
class InstructionError extends Error {}

const fail = (msg: string): never => { throw new InstructionError(msg); };

/** Converts one parser node to a typed instruction; throws DockerfileParseError like Docker. */
export function parseInstruction(node: DockerfileNode): Instruction {
  try {
    return parseNode(node);
  } catch (e) {
    if (e instanceof InstructionError) throw new DockerfileParseError(e.message, node.startLine, node.endLine);
    throw e;
  }
}

function parseFlags(node: DockerfileNode, define: (f: InstructionFlags) => void): InstructionFlags {
  const flags = new InstructionFlags(node.flags);
  define(flags);
  const err = flags.parse();
  if (err) fail(err);
  return flags;
}

function base(node: DockerfileNode): Base {
  return { startLine: node.startLine, endLine: node.endLine, original: node.original, node };
}

function inlineFiles(node: DockerfileNode): InlineFile[] {
  return node.heredocs.map((h) => toInlineFile(h));
}

function toInlineFile(h: Heredoc): InlineFile {
  return { name: h.name, data: h.chomp ? chompHeredocContent(h.content) : h.content, expand: h.expand, chomp: h.chomp };
}

function sourcesAndDest(node: DockerfileNode, cmd: string): { sources: string[]; contents: InlineFile[]; dest: string } {
  const args = node.args;
  const dest = args[args.length - 1]!;
  if (parseHeredoc(dest)) fail(`${cmd} cannot accept a heredoc as a destination`);
  const byName = new Map(node.heredocs.map((h) => [h.name, h] as const));
  const sources: string[] = [];
  const contents: InlineFile[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredoc(src);
    if (h) {
      const body = byName.get(h.name)?.content ?? '';
      contents.push({ name: h.name, data: h.chomp ? chompHeredocContent(body) : body, expand: h.expand, chomp: h.chomp });
    } else {
      sources.push(src);
    }
  }
  return { sources, contents, dest };
}

function keyValues(node: DockerfileNode, cmd: string): KeyValuePair[] {
  const kvs = node.keyValues ?? [];
  if (kvs.length === 0) fail(`${cmd} requires at least one argument`);
  return kvs.map((kv) => {
    if (kv.key.length === 0) fail(`${cmd} names can not be blank`);
    return { key: kv.key, value: kv.value, noDelim: kv.legacy };
  });
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseNode(node: DockerfileNode): Instruction {
  const b = base(node);
  const args = node.args;
  switch (node.instruction) {
    case 'from': {
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!STAGE_NAME.test(stageName)) {
          fail(`invalid name for build stage: ${goQuote(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        fail('FROM requires either one or three arguments');
      }
      const flags = parseFlags(node, (f) => f.string('platform'));
      return { ...b, kind: 'from', image: args[0]!, stageName, platform: flags.get('platform') || undefined };
    }
    case 'env': {
      parseFlags(node, () => {});
      return { ...b, kind: 'env', env: keyValues(node, 'ENV') };
    }
    case 'label': {
      parseFlags(node, () => {});
      return { ...b, kind: 'label', labels: keyValues(node, 'LABEL') };
    }
    case 'maintainer': {
      if (args.length !== 1) fail('MAINTAINER requires exactly one argument');
      parseFlags(node, () => {});
      return { ...b, kind: 'maintainer', maintainer: args[0]! };
    }
    case 'add': {
      if (args.length < 2) fail('ADD requires at least two arguments, but only one was provided. Destination could not be determined');
      const f = parseFlags(node, (fl) =>
        fl.string('chown').string('chmod').bool('link').bool('keep-git-dir').string('checksum').strings('exclude').bool('unpack'));
      const sd = sourcesAndDest(node, 'ADD');
      return {
        ...b, kind: 'add', ...sd,
        chown: f.get('chown') || undefined,
        chmod: f.get('chmod') || undefined,
        link: f.isTrue('link'),
        keepGitDir: f.isTrue('keep-git-dir'),
        checksum: f.get('checksum') || undefined,
        excludes: f.list('exclude'),
        unpack: f.get('unpack') === undefined ? undefined : f.isTrue('unpack'),
      };
    }
    case 'copy': {
      if (args.length < 2) fail('COPY requires at least two arguments, but only one was provided. Destination could not be determined');
      const f = parseFlags(node, (fl) =>
        fl.string('chown').string('from').string('chmod').bool('link').bool('parents').strings('exclude'));
      const sd = sourcesAndDest(node, 'COPY');
      return {
        ...b, kind: 'copy', ...sd,
        from: f.get('from') || undefined,
        chown: f.get('chown') || undefined,
        chmod: f.get('chmod') || undefined,
        link: f.isTrue('link'),
        parents: f.isTrue('parents'),
        excludes: f.list('exclude'),
      };
    }
    case 'onbuild': {
      if (args.length === 0) fail('ONBUILD requires at least one argument');
      parseFlags(node, () => {});
      const trigger = args[0]!.trim().toUpperCase();
      if (trigger === 'ONBUILD') fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'MAINTAINER' || trigger === 'FROM') fail(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      for (const h of node.heredocs) expression += '\n' + h.content + h.name;
      return { ...b, kind: 'onbuild', expression };
    }
    case 'workdir': {
      if (args.length !== 1) fail('WORKDIR requires exactly one argument');
      parseFlags(node, () => {});
      return { ...b, kind: 'workdir', path: args[0]! };
    }
    case 'run': {
      const f = parseFlags(node, (fl) => fl.strings('mount').string('network').string('security').strings('device'));
      const mountSpecs = f.list('mount');
      const mounts = mountSpecs.map((m) => {
        try {
          return parseRunMount(m);
        } catch (e) {
          return fail((e as Error).message);
        }
      });
      const network = f.get('network');
      if (network !== undefined && !['default', 'none', 'host'].includes(network)) fail(`unsupported network mode ${goQuote(network)}`);
      const security = f.get('security');
      if (security !== undefined && !['sandbox', 'insecure'].includes(security)) fail(`unsupported security mode ${goQuote(security)}`);
      return {
        ...b, kind: 'run', command: [...args], prependShell: !node.json, files: inlineFiles(node),
        mountSpecs, mounts,
        network: network as RunInstruction['network'],
        security: security as RunInstruction['security'],
        devices: f.list('device'),
        flagsUsed: f.used(),
      };
    }
    case 'cmd': {
      parseFlags(node, () => {});
      return { ...b, kind: 'cmd', command: [...args], prependShell: !node.json, files: inlineFiles(node) };
    }
    case 'entrypoint': {
      parseFlags(node, () => {});
      return { ...b, kind: 'entrypoint', command: args.length === 0 ? undefined : [...args], prependShell: !node.json, files: inlineFiles(node) };
    }
    case 'healthcheck':
      return { ...b, kind: 'healthcheck', health: parseHealthcheck(node) };
    case 'expose': {
      if (args.length === 0) fail('EXPOSE requires at least one argument');
      parseFlags(node, () => {});
      return { ...b, kind: 'expose', ports: [...args].sort() };
    }
    case 'user': {
      if (args.length !== 1) fail('USER requires exactly one argument');
      parseFlags(node, () => {});
      return { ...b, kind: 'user', user: args[0]! };
    }
    case 'volume': {
      if (args.length === 0) fail('VOLUME requires at least one argument');
      parseFlags(node, () => {});
      const volumes = args.map((v) => {
        const t = v.trim();
        if (t === '') fail('VOLUME specified can not be an empty string');
        return t;
      });
      return { ...b, kind: 'volume', volumes };
    }
    case 'stopsignal': {
      if (args.length !== 1) fail('STOPSIGNAL requires exactly one argument');
      return { ...b, kind: 'stopsignal', signal: args[0]! };
    }
    case 'arg': {
      if (args.length < 1) fail('ARG requires at least one argument');
      const defs = args.map((a): ArgDefinition => {
        const i = a.indexOf('=');
        if (i < 0) return { key: a };
        if (i === 0) fail('ARG names can not be blank');
        return { key: a.slice(0, i), value: a.slice(i + 1) };
      });
      return { ...b, kind: 'arg', args: defs };
    }
    case 'shell': {
      parseFlags(node, () => {});
      if (args.length === 0) fail('SHELL requires at least one argument');
      if (!node.json) fail('SHELL requires the arguments to be in JSON form');
      return { ...b, kind: 'shell', shell: [...args] };
    }
    default:
      return fail(withSuggestion(`unknown instruction: ${node.name}`, node.name, INSTRUCTION_NAMES.map((n) => n.toUpperCase()), false));
  }
}

const MIN_DURATION_NS = 1_000_000; // 1ms, Docker's container.MinimumDuration

function parseHealthcheck(node: DockerfileNode): HealthConfig {
  const args = node.args;
  if (args.length === 0) fail('HEALTHCHECK requires at least one argument');
  let typ = args[0]!.toUpperCase();
  const rest = args.slice(1);
  if (typ === 'NONE') {
    // Docker does not look at flags for NONE.
    if (rest.length !== 0) fail('HEALTHCHECK NONE takes no arguments');
    return { test: ['NONE'] };
  }
  const f = parseFlags(node, (fl) => fl.string('interval').string('timeout').string('start-period').string('start-interval').string('retries'));
  if (typ !== 'CMD') fail(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
  if (rest.length === 0) fail('Missing command after HEALTHCHECK CMD');
  if (!node.json) typ = 'CMD-SHELL';
  const health: HealthConfig = { test: [typ, ...rest] };
  const interval = (name: string): number | undefined => {
    const s = f.get(name);
    if (s === undefined || s === '') return undefined;
    let d: number;
    try {
      d = parseGoDuration(s);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (d < MIN_DURATION_NS) fail(`Interval ${goQuote(name)} cannot be less than 1ms`);
    return d;
  };
  health.interval = interval('interval');
  health.timeout = interval('timeout');
  health.startPeriod = interval('start-period');
  health.startInterval = interval('start-interval');
  const retries = f.get('retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?\d+$/.test(retries)) fail(`strconv.ParseInt: parsing ${goQuote(retries)}: invalid syntax`);
    const n = Number(retries);
    if (n < 1) fail(`--retries must be at least 1 (not ${n})`);
    health.retries = n;
  }
  return health;
}

/** Go's encoding/csv, one record, enough for --mount values. */
function splitCsv(value: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) throw new Error(`failed to parse csv mounts: parse error: extraneous or missing " in quoted-field`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        field += value[i++];
      }
      if (i < value.length && value[i] !== ',') throw new Error(`failed to parse csv mounts: parse error: extraneous or missing " in quoted-field`);
    } else {
      const end = value.indexOf(',', i);
      field = end < 0 ? value.slice(i) : value.slice(i, end);
      if (field.includes('"')) throw new Error(`failed to parse csv mounts: parse error: bare " in non-quoted-field`);
      i = end < 0 ? value.length : end;
    }
    fields.push(field);
    if (i >= value.length) return fields;
    i++; // skip ','
  }
}

const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const MOUNT_KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'mode', 'uid', 'gid', 'src', 'dst', 'ro', 'rw', 'readwrite', 'size', 'env'];

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new Error(`invalid value for ${key}: ${value}`);
}

function parseUint(value: string, radix: 8 | 10, what: string): number {
  const ok = radix === 8 ? /^[0-7]+$/.test(value) : /^\d+$/.test(value);
  const n = ok ? parseInt(value, radix) : NaN;
  if (!ok || n > 0xffffffff) throw new Error(`invalid value ${value} for ${what}`);
  return n;
}

/** Size like "64m", "1g", "1024" (Docker's units.RAMInBytes). */
function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new Error(`invalid value for size: ${value}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as '' | 'k'] ?? 1;
  return Math.floor(Number(m[1]) * mult);
}

/**
 * Parses one RUN --mount value (CSV of key=value). `expand` is applied to every value
 * first, as Docker does at build time.
 */
export function parseRunMount(value: string, expand: (word: string) => string = (w) => w): RunMount {
  const fields = splitCsv(value);
  const m: RunMount = { type: 'bind', readOnly: false, required: false };
  let roAuto = true;
  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') { m.readOnly = true; roAuto = false; continue; }
      if (key === 'readwrite' || key === 'rw') { m.readOnly = false; roAuto = false; continue; }
      if (key === 'required') {
        if (m.type === 'secret' || m.type === 'ssh') { m.required = true; continue; }
        throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
      }
      throw new Error(`invalid field '${field}' must be a key=value pair`);
    }
    const v = expand(field.slice(eq + 1));
    switch (key) {
      case 'type': {
        const t = v.toLowerCase();
        if (!MOUNT_TYPES.includes(t)) throw new Error(withSuggestion(`unsupported mount type ${goQuote(v)}`, v, MOUNT_TYPES, true));
        m.type = t as RunMount['type'];
        break;
      }
      case 'from': m.from = v; break;
      case 'source': case 'src': m.source = v; break;
      case 'target': case 'dst': case 'destination': m.target = v; break;
      case 'readonly': case 'ro': m.readOnly = parseBool(key, v); roAuto = false; break;
      case 'readwrite': case 'rw': m.readOnly = !parseBool(key, v); roAuto = false; break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, v);
        break;
      case 'id': m.id = v; break;
      case 'sharing': {
        const s = v.toLowerCase();
        if (!['shared', 'private', 'locked'].includes(s)) throw new Error(`unsupported sharing value ${goQuote(v)}`);
        m.sharing = s as RunMount['sharing'];
        break;
      }
      case 'mode': m.mode = parseUint(v, 8, 'mode'); break;
      case 'uid': m.uid = parseUint(v, 10, 'uid'); break;
      case 'gid': m.gid = parseUint(v, 10, 'gid'); break;
      case 'size':
        if (m.type !== 'tmpfs') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        m.size = parseSize(v);
        break;
      case 'env':
        if (m.type !== 'secret') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        m.env = v;
        break;
      default:
        throw new Error(withSuggestion(`unexpected key '${key}' in '${field}'`, key, MOUNT_KEYS, true));
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (m.mode !== undefined && !fileInfoAllowed) throw new Error(`mode not allowed for ${goQuote(m.type)} type mounts`);
  if (m.uid !== undefined && !fileInfoAllowed) throw new Error(`uid not allowed for ${goQuote(m.type)} type mounts`);
  if (m.gid !== undefined && !fileInfoAllowed) throw new Error(`gid not allowed for ${goQuote(m.type)} type mounts`);
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.sharing !== undefined && m.type !== 'cache') throw new Error(`invalid cache sharing set for ${m.type} mount`);
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new Error('secret mount should not have a from');
    if (m.sharing !== undefined) throw new Error('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id && !m.env) throw new Error('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new Error("both source and id can't be set");
  }
  return m;
}

/**
 * Groups instructions into stages. ARGs before the first FROM are global (meta) args;
 * any other instruction before FROM is an error, as in Docker.
 */
export function parseStages(nodes: readonly DockerfileNode[]): DockerfileStages {
  const result: DockerfileStages = { metaArgs: [], stages: [] };
  for (const node of nodes) {
    const inst = parseInstruction(node);
    if (inst.kind === 'from') {
      if (inst.stageName && result.stages.some((st) => st.name === inst.stageName)) {
        throw new DockerfileParseError(`${inst.stageName} stage name already used`, node.startLine, node.endLine);
      }
      result.stages.push({
        name: inst.stageName,
        index: result.stages.length,
        baseName: inst.image,
        platform: inst.platform,
        from: inst,
        commands: [],
      });
      continue;
    }
    const current = result.stages[result.stages.length - 1];
    if (!current) {
      if (inst.kind === 'arg') {
        result.metaArgs.push(inst);
        continue;
      }
      throw new DockerfileParseError('no build stage in current context', node.startLine, node.endLine);
    }
    current.commands.push(inst);
  }
  return result;
}

/**
 * Finds a stage by name (case-insensitive) or index, for `--target` and `COPY --from`.
 * A name wins over an index, as in Docker.
 */
export function findStage(stages: readonly Stage[], ref: string): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = stages.find((s) => s.name === lower);
  if (byName) return byName;
  if (/^\d+$/.test(ref)) return stages[Number(ref)];
  return undefined;
}

/**
 * The stages needed to build `target` (default: the last stage), in Dockerfile order:
 * the target, the stages it is based on (FROM <stage>) and the stages it copies or
 * mounts from (COPY --from, RUN --mount from=). Stage references are matched before
 * expansion, as written.
 */
export function stagesNeeded(
  stages: readonly Stage[],
  target?: string,
  /** The FROM image after ARG expansion (see expandFrom); defaults to the name as written. */
  baseOf: (stage: Stage) => string = (s) => s.baseName,
): Stage[] {
  if (stages.length === 0) return [];
  let targetStage: Stage | undefined;
  if (target === undefined || target === '') targetStage = stages[stages.length - 1];
  else {
    targetStage = stages.find((s) => s.name === target.toLowerCase());
    if (!targetStage) throw new DockerfileParseError(`failed to reach build target ${target} in Dockerfile`, 0);
  }
  const needed = new Set<number>();
  const visit = (s: Stage) => {
    if (needed.has(s.index)) return;
    needed.add(s.index);
    const earlier = stages.slice(0, s.index);
    const base = earlier.find((e) => e.name === baseOf(s).toLowerCase());
    if (base) visit(base);
    for (const c of s.commands) {
      const refs: string[] = [];
      if (c.kind === 'copy' && c.from) refs.push(c.from);
      if (c.kind === 'run') for (const m of c.mounts) if (m.from) refs.push(m.from);
      for (const r of refs) {
        const dep = findStage(earlier, r);
        if (dep) visit(dep);
      }
    }
  };
  visit(targetStage!);
  return stages.filter((s) => needed.has(s.index));
}

/**
 * Parses the ONBUILD triggers of a base image (its Config.OnBuild) into the commands to run
 * right after FROM, refusing what Docker refuses there. Line numbers are those of `fromLine`.
 */
export function parseOnbuildTriggers(triggers: readonly string[], fromLine = 0): Command[] {
  const out: Command[] = [];
  for (const trigger of triggers) {
    let nodes: DockerfileNode[];
    try {
      nodes = parseDockerfileAst(trigger).nodes;
    } catch (e) {
      throw new DockerfileParseError(e instanceof DockerfileParseError ? e.reason : (e as Error).message, fromLine);
    }
    for (const node of nodes) {
      const upper = node.instruction.toUpperCase();
      if (upper === 'ONBUILD') throw new DockerfileParseError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", fromLine);
      if (upper === 'MAINTAINER' || upper === 'FROM') throw new DockerfileParseError(`${upper} isn't allowed as an ONBUILD trigger`, fromLine);
      let inst: Instruction;
      try {
        inst = parseInstruction(node);
      } catch (e) {
        throw new DockerfileParseError(e instanceof DockerfileParseError ? e.reason : (e as Error).message, fromLine);
      }
      out.push({ ...inst, startLine: fromLine, endLine: fromLine } as Command);
    }
  }
  return out;
}
