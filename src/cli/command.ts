/**
 * The shape of a CLI command and the context it runs in: streams, environment, global options,
 * and a lazily created EngineClient. Errors are classes the entry point formats as docker does.
 */
import type { Readable, Writable } from 'node:stream';
import type { EngineClient } from '../client/index.js';
import type { FlagSpec, ParsedFlags } from './flags.js';

export const PROG = 'berth';

/** docker run's way of reporting a failure: the program's name, the message, and where help is. */
export function runStyleMessage(message: string, commandPath: string): string {
  return `${PROG}: ${message}\n\nRun '${PROG} ${commandPath} --help' for more information\n`;
}

export interface CliIO {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown; fd?: number };
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface GlobalOptions {
  host?: string;
  context?: string;
  tls: boolean;
  tlsVerify?: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
  debug: boolean;
  logLevel?: string;
  config?: string;
}

export interface Command {
  /** e.g. "run [OPTIONS] IMAGE [COMMAND] [ARG...]" (without the program name). */
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Stop flag parsing at the first positional (run, exec, create). */
  stopAtFirstArg?: boolean;
  args?: { min?: number; max?: number; exact?: number };
  /** Exit code used for daemon/connection errors (docker run/create/start use 125). */
  errorExitCode?: number;
  /** Prefix runtime errors with "berth: " and add the help hint, as docker run does. */
  runStyleErrors?: boolean;
  run(ctx: Ctx, parsed: ParsedFlags): Promise<number>;
}

/** Wrong flags or arguments: printed with the command's usage. */
export class UsageError extends Error {
  constructor(message: string, readonly kind: 'flag' | 'args', readonly hint: 'Run' | 'See' = 'Run') { super(message); }
}

/** A failure with a specific exit code; `message` (if any) goes to stderr as is. */
export class StatusError extends Error {
  constructor(message: string, readonly code: number) { super(message); }
}

export class Ctx {
  private engine?: EngineClient;

  constructor(
    readonly io: CliIO,
    readonly globals: GlobalOptions,
    /** "run", "container ls", ... */
    readonly commandPath: string,
    private readonly makeClient: () => Promise<EngineClient>,
  ) {}

  async client(): Promise<EngineClient> {
    this.engine ??= await this.makeClient();
    return this.engine;
  }

  out(text: string): void { this.io.stdout.write(text); }
  err(text: string): void { this.io.stderr.write(text); }
  line(text = ''): void { this.io.stdout.write(text + '\n'); }

  close(): void { this.engine?.close(); }
}
