/**
 * The texts Docker's classic builder records for each step: the image history's CreatedBy
 * ("/bin/sh -c #(nop)  ENV a=1") and the RUN command with its build args ("|1 V=1 /bin/sh -c make"),
 * which is also what its cache compares. Formats follow moby's builder/dockerfile dispatchers.
 */
import type { BuildArgs } from './expand.js';
import type { HealthConfig, Instruction } from './instructions.js';
import { goQuote } from './go-format.js';

/** Go's strconv.QuoteRune, which is what %q prints for an int. */
function goQuoteRune(n: number): string {
  const ch = String.fromCodePoint(n);
  if (ch === "'") return "'\\''";
  const q = goQuote(ch);
  return "'" + (ch === '"' ? '"' : q.slice(1, -1)) + "'";
}

/** Go's %q of a []string: ["a" "b"]. */
export function goQuoteSlice(items: readonly string[] | undefined): string {
  return '[' + (items ?? []).map(goQuote).join(' ') + ']';
}

/** Go's time.Duration.String() for nanoseconds. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < 1e9) {
    // below one second: the largest fitting unit with a fraction
    const [unit, size] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = trimFraction(u / size) + unit;
  } else {
    const h = Math.floor(u / 3600e9);
    u -= h * 3600e9;
    const m = Math.floor(u / 60e9);
    u -= m * 60e9;
    const s = trimFraction(u / 1e9) + 's';
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return (neg ? '-' : '') + out;
}

function trimFraction(v: number): string {
  return Number(v.toFixed(9)).toString();
}

/** Go's %q of a *HealthConfig, as the classic builder commits HEALTHCHECK. */
function formatHealth(h: HealthConfig): string {
  const d = (v: number | undefined) => goQuote(formatGoDuration(v ?? 0));
  return `&{${goQuoteSlice(h.test)} ${d(h.interval)} ${d(h.timeout)} ${d(h.startPeriod)} ${goQuoteRune(h.retries ?? 0)}}`;
}

export interface CommitContext {
  /** The stage's SHELL (default ["/bin/sh", "-c"]), used for shell-form CMD/ENTRYPOINT. */
  shell?: readonly string[];
  /** The resolved working directory after WORKDIR. */
  workdir?: string;
}

/**
 * The comment the classic builder commits for a metadata-only step (expanded instruction
 * in, e.g. "ENV a=1 b=2"); undefined for RUN/COPY/ADD/FROM, whose records depend on the build.
 */
export function commitMessage(inst: Instruction, ctx: CommitContext = {}): string | undefined {
  const shell = ctx.shell ?? ['/bin/sh', '-c'];
  switch (inst.kind) {
    case 'env': return 'ENV' + inst.env.map((kv) => ` ${kv.key}=${kv.value}`).join('');
    case 'label': return 'LABEL' + inst.labels.map((kv) => ` ${kv.key}=${kv.value}`).join('');
    case 'maintainer': return `MAINTAINER ${inst.maintainer}`;
    case 'arg': return 'ARG ' + inst.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(' ');
    case 'expose': return `EXPOSE ${inst.ports.join(' ')}`;
    case 'user': return `USER ${inst.user}`;
    case 'volume': return `VOLUME [${inst.volumes.join(' ')}]`;
    case 'stopsignal': return `STOPSIGNAL ${inst.signal}`;
    case 'shell': return `SHELL [${inst.shell.join(' ')}]`;
    case 'onbuild': return `ONBUILD ${inst.expression}`;
    case 'workdir': return `WORKDIR ${ctx.workdir ?? inst.path}`;
    case 'cmd': return `CMD ${goQuoteSlice(inst.prependShell ? [...shell, ...inst.command] : inst.command)}`;
    case 'entrypoint': {
      const ep = inst.command === undefined ? undefined : inst.prependShell ? [...shell, ...inst.command] : inst.command;
      return `ENTRYPOINT ${goQuoteSlice(ep)}`;
    }
    case 'healthcheck': return `HEALTHCHECK ${formatHealth(inst.health)}`;
    default: return undefined;
  }
}

/**
 * The Cmd the classic builder stores for a metadata-only step (its cache matches on it):
 * `[...shell, "#(nop) ", message]`, except WORKDIR, which is `[...shell, "#(nop) WORKDIR /x"]`.
 */
export function nopCommand(message: string, shell: readonly string[] = ['/bin/sh', '-c']): string[] {
  if (message.startsWith('WORKDIR ')) return [...shell, `#(nop) ${message}`];
  return [...shell, '#(nop) ', message];
}

/** The image history's CreatedBy for a metadata-only step, e.g. `/bin/sh -c #(nop)  ENV a=1`. */
export function nopCreatedBy(message: string, shell: readonly string[] = ['/bin/sh', '-c']): string {
  return nopCommand(message, shell).join(' ');
}

/**
 * The command the classic builder records (and matches in its cache) for RUN: the build
 * args in effect, as `|N k=v ...` sorted, before the command, leaving out predefined proxy
 * args the Dockerfile did not declare.
 */
export function runCommandWithBuildArgs(args: BuildArgs, runConfigEnv: readonly string[], cmd: readonly string[]): string[] {
  const allowed = args.filterAllowed(runConfigEnv);
  if (allowed.length === 0) return [...cmd];
  // an undeclared proxy arg still switches the prefix on, as "|0"
  const vars = allowed.filter((kv) => args.isReferencedOrNotBuiltin(kv.split('=')[0]!)).sort();
  return [`|${vars.length}`, ...vars, ...cmd];
}
