/** run, create, start, attach, exec: the commands that create processes and wire up their streams. */
import { writeFileSync } from 'node:fs';
import { NotFoundError } from '../../errors/index.js';
import type { ContainerCreateBody, EngineClient, WaitResponse } from '../../client/index.js';
import { PROG, StatusError, runStyleMessage, type Command, type Ctx } from '../command.js';
import { FlagError, type FlagSpec, type ParsedFlags } from '../flags.js';
import { CONTAINER_FLAGS, RUN_ONLY_FLAGS, buildCreateBody, resolveEnv } from '../run-options.js';
import { makeRaw, pumpHijacked } from '../io-streams.js';

/** Adds ":latest" as docker does when a reference has neither tag nor digest. */
export function normalizeImageRef(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastSlash = ref.lastIndexOf('/');
  return ref.slice(lastSlash + 1).includes(':') ? ref : `${ref}:latest`;
}

async function pullImage(ctx: Ctx, client: EngineClient, image: string, quiet: boolean, platform?: string): Promise<void> {
  const ref = normalizeImageRef(image);
  const at = ref.lastIndexOf(':');
  const { registryAuthHeader } = await import('../registry-auth.js');
  const { configDir } = await import('../../client/index.js');
  const registryAuth = registryAuthHeader(configDir(ctx.io.env, ctx.globals.config), ref);
  const res = await client.pullImage(ref.includes('@') ? ref : ref.slice(0, at), { tag: ref.includes('@') ? undefined : ref.slice(at + 1), platform, registryAuth });
  for await (const m of client.messages(res)) {
    if (quiet) continue;
    if (m.status && m.id && !m.progress) ctx.err(`${m.id}: ${m.status}\n`);
    else if (m.status && !m.id) ctx.err(`${m.status}\n`);
  }
}

/** Creates a container, pulling the image first when it is missing (as docker run/create do). */
async function createContainer(ctx: Ctx, client: EngineClient, body: ContainerCreateBody, p: ParsedFlags): Promise<string> {
  const name = p.changed.has('name') ? p.flags.name as string : undefined;
  const platform = p.changed.has('platform') ? p.flags.platform as string : undefined;
  const pullMode = p.flags.pull as string;
  if (!['always', 'missing', 'never'].includes(pullMode)) throw new FlagError(`invalid pull option: '${pullMode}': must be one of "always", "missing" or "never"`);
  if (pullMode === 'always') await pullImage(ctx, client, body.Image!, p.flags.quiet === true, platform);
  let res;
  try {
    res = await client.createContainer(body, { name, platform });
  } catch (e) {
    if (!(e instanceof NotFoundError) || pullMode !== 'missing' || !/image/i.test(e.message)) throw e;
    ctx.err(`Unable to find image '${normalizeImageRef(body.Image!)}' locally\n`);
    await pullImage(ctx, client, body.Image!, p.flags.quiet === true, platform);
    res = await client.createContainer(body, { name, platform });
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  if (p.changed.has('cidfile')) writeFileSync(p.flags.cidfile as string, res.Id, { flag: 'wx' });
  return res.Id;
}

function parseCreate(ctx: Ctx, p: ParsedFlags, command: 'run' | 'create'): ContainerCreateBody {
  try {
    return buildCreateBody(p, ctx.io.env, ctx.io.cwd);
  } catch (e) {
    // As the docker CLI: a value its flags parse but cannot use is reported run-style (no usage block), exit 125.
    if (e instanceof FlagError) throw new StatusError(runStyleMessage(e.message, command), 125);
    throw e;
  }
}

/** Forwards SIGINT/SIGTERM to the container (docker's --sig-proxy for non-TTY runs). */
function proxySignals(client: EngineClient, id: string): () => void {
  const handlers: [NodeJS.Signals, () => void][] = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[])
    .map((s) => [s, () => { client.killContainer(id, s).catch(() => {}); }]);
  for (const [s, h] of handlers) process.on(s, h);
  return () => { for (const [s, h] of handlers) process.off(s, h); };
}

const run: Command = {
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  flags: [...CONTAINER_FLAGS, ...RUN_ONLY_FLAGS],
  stopAtFirstArg: true,
  args: { min: 1 },
  runStyleErrors: true,
  errorExitCode: 125,
  async run(ctx, p) {
    const body = parseCreate(ctx, p, 'run');
    const detach = p.flags.detach === true;
    const tty = body.Tty === true;
    if (tty && ctx.io.stdout.isTTY && ctx.io.stdout.rows && ctx.io.stdout.columns) {
      body.HostConfig = { ...body.HostConfig, ConsoleSize: [ctx.io.stdout.rows, ctx.io.stdout.columns] };
    }
    if (tty && body.AttachStdin && !ctx.io.stdin.isTTY) throw new StatusError('the input device is not a TTY', 1);
    if (detach && p.flags.rm === true && false) { /* AutoRemove handles it */ }
    const client = await ctx.client();
    const id = await createContainer(ctx, client, body, p);
    if (detach) {
      await client.startContainer(id);
      ctx.line(id);
      return 0;
    }
    const attachAny = body.AttachStdin || body.AttachStdout || body.AttachStderr;
    const detachKeys = p.changed.has('detach-keys') ? p.flags['detach-keys'] as string : undefined;
    const conn = attachAny ? await client.attachContainer(id, {
      stream: true, stdin: body.AttachStdin, stdout: body.AttachStdout, stderr: body.AttachStderr, detachKeys,
    }) : undefined;
    // Register the wait before starting so a fast exit is not missed.
    const waiting = await client.waitContainerStarted(id, body.HostConfig?.AutoRemove ? 'removed' : 'next-exit');
    const restore = tty && body.AttachStdin ? makeRaw(ctx.io) : () => {};
    const stopProxy = !tty && p.flags['sig-proxy'] ? proxySignals(client, id) : () => {};
    try {
      const pumping = conn ? pumpHijacked(conn, ctx.io, {
        tty, stdin: body.AttachStdin === true,
        onResize: (h, w) => { client.resizeContainer(id, h, w).catch(() => {}); },
      }) : Promise.resolve();
      try {
        await client.startContainer(id);
      } catch (e) {
        conn?.socket.destroy();
        throw e;
      }
      // The process exists only now: size its terminal like ours (docker does this right after start).
      if (tty && ctx.io.stdout.isTTY && ctx.io.stdout.rows && ctx.io.stdout.columns) {
        client.resizeContainer(id, ctx.io.stdout.rows, ctx.io.stdout.columns).catch(() => {});
      }
      await pumping;
      const result: WaitResponse = await waiting.result;
      if (result.Error?.Message) ctx.err(`${PROG}: ${result.Error.Message}\n`);
      return result.StatusCode;
    } finally {
      restore();
      stopProxy();
    }
  },
};

const create: Command = {
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  flags: CONTAINER_FLAGS,
  stopAtFirstArg: true,
  args: { min: 1 },
  async run(ctx, p) {
    const body = parseCreate(ctx, p, 'create');
    const client = await ctx.client();
    ctx.line(await createContainer(ctx, client, body, p));
    return 0;
  },
};

async function attachAndWait(ctx: Ctx, client: EngineClient, id: string, withStdin: boolean, startIt: boolean, detachKeys?: string): Promise<number> {
  const info = await client.inspectContainer(id);
  const tty = info.Config.Tty === true;
  const stdin = withStdin && info.Config.OpenStdin === true;
  if (!startIt && !info.State.Running) throw new StatusError('You cannot attach to a stopped container, start it first', 1);
  if (!startIt && info.State.Paused) throw new StatusError('You cannot attach to a paused container, unpause it first', 1);
  if (tty && stdin && !ctx.io.stdin.isTTY) throw new StatusError('the input device is not a TTY', 1);
  const conn = await client.attachContainer(id, { stream: true, stdin, stdout: true, stderr: true, detachKeys });
  const waiting = startIt ? await client.waitContainerStarted(id, 'next-exit') : undefined;
  const restore = tty && stdin ? makeRaw(ctx.io) : () => {};
  try {
    const pumping = pumpHijacked(conn, ctx.io, { tty, stdin, onResize: (h, w) => { client.resizeContainer(id, h, w).catch(() => {}); } });
    if (startIt) {
      await client.startContainer(id);
      if (tty && ctx.io.stdout.isTTY && ctx.io.stdout.rows && ctx.io.stdout.columns) {
        client.resizeContainer(id, ctx.io.stdout.rows, ctx.io.stdout.columns).catch(() => {});
      }
    }
    await pumping;
  } finally { restore(); }
  if (waiting) return (await waiting.result).StatusCode;
  const after = await client.inspectContainer(id);
  if (after.State.Running) return 0; // detached with the detach keys
  return after.State.ExitCode;
}

const start: Command = {
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
  ],
  args: { min: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    if (p.flags.attach || p.flags.interactive) {
      if (p.args.length > 1) throw new StatusError('you cannot start and attach multiple containers at once', 1);
      return attachAndWait(ctx, client, p.args[0], p.flags.interactive === true, true, p.flags['detach-keys'] as string | undefined);
    }
    const errors: string[] = [];
    const failed: string[] = [];
    for (const id of p.args) {
      try { await client.startContainer(id); ctx.line(id); } catch (e) {
        if ((e as Error).name === 'DaemonConnectionError') throw e;
        errors.push(describe(e)); failed.push(id);
      }
    }
    if (errors.length) throw new StatusError(`${errors.join('\n')}\nError: failed to start containers: ${failed.join(', ')}`, 1);
    return 0;
  },
};

const attach: Command = {
  usage: 'attach [OPTIONS] CONTAINER',
  description: 'Attach local standard input, output, and error streams to a running container',
  flags: [
    { name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
    { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy all received signals to the process' },
    { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const client = await ctx.client();
    return attachAndWait(ctx, client, p.args[0], p.flags['no-stdin'] !== true, false, p.flags['detach-keys'] as string | undefined);
  },
};

const EXEC_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
  { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
];

const exec: Command = {
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  flags: EXEC_FLAGS,
  stopAtFirstArg: true,
  args: { min: 2 },
  errorExitCode: 1,
  async run(ctx, p) {
    const [container, ...cmd] = p.args;
    const tty = p.flags.tty === true;
    const interactive = p.flags.interactive === true;
    const detach = p.flags.detach === true;
    if (tty && interactive && !detach && !ctx.io.stdin.isTTY) throw new StatusError('the input device is not a TTY', 1);
    const client = await ctx.client();
    const env = resolveEnv(p.flags.env as string[], p.flags['env-file'] as string[], ctx.io.env);
    const { Id } = await client.createExec(container, {
      AttachStdin: interactive && !detach, AttachStdout: !detach, AttachStderr: !detach, Tty: tty, Cmd: cmd,
      Env: env.length ? env : undefined, User: p.flags.user as string | undefined, WorkingDir: p.flags.workdir as string | undefined,
      Privileged: p.flags.privileged === true, DetachKeys: p.flags['detach-keys'] as string | undefined,
      ConsoleSize: tty && ctx.io.stdout.rows ? [ctx.io.stdout.rows, ctx.io.stdout.columns ?? 80] : undefined,
    });
    if (detach) { await client.startExecDetached(Id, { tty }); return 0; }
    const conn = await client.startExecAttached(Id, { tty });
    const restore = tty && interactive ? makeRaw(ctx.io) : () => {};
    try {
      await pumpHijacked(conn, ctx.io, { tty, stdin: interactive, onResize: (h, w) => { client.resizeExec(Id, h, w).catch(() => {}); } });
    } finally { restore(); }
    const info = await client.inspectExec(Id);
    return info.ExitCode ?? 0;
  },
};

function describe(e: unknown): string {
  const err = e as { fromDaemon?: boolean; message?: string };
  return err.fromDaemon ? `Error response from daemon: ${err.message}` : String(err.message ?? e);
}

export const commands: Record<string, Command> = { run, create, start, attach, exec };
