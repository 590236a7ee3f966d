/** login and logout, storing credentials where the docker CLI does. */
import { configDir } from '../../client/index.js';
import { StatusError, type Command } from '../command.js';
import { DOCKER_HUB_SERVER, removeCredentials, serverKey, storeCredentials } from '../registry-auth.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const c of stream) s += c.toString();
  return s;
}

const login: Command = {
  usage: 'login [OPTIONS] [SERVER]',
  description: 'Authenticate to a registry',
  flags: [
    { name: 'username', short: 'u', type: 'string', description: 'Username' },
    { name: 'password', short: 'p', type: 'string', description: 'Password or Personal Access Token (PAT)' },
    { name: 'password-stdin', type: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
  ],
  args: { max: 1 },
  async run(ctx, p) {
    const server = serverKey(p.args[0]);
    const username = p.flags.username as string | undefined;
    let password = p.flags.password as string | undefined;
    if (p.flags['password-stdin']) {
      if (password !== undefined) throw new StatusError('--password and --password-stdin are mutually exclusive', 1);
      if (!username) throw new StatusError('Must provide --username with --password-stdin', 1);
      password = (await readAll(ctx.io.stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    if (!username || password === undefined) throw new StatusError('Error: Cannot perform an interactive login from a non TTY device', 1);
    const client = await ctx.client();
    const r = await client.login({ username, password, serveraddress: server });
    storeCredentials(configDir(ctx.io.env, ctx.globals.config), server, username, password);
    ctx.line(r?.Status || 'Login Succeeded');
    return 0;
  },
};

const logout: Command = {
  usage: 'logout [SERVER]',
  description: 'Log out from a registry',
  flags: [],
  args: { max: 1 },
  async run(ctx, p) {
    const server = serverKey(p.args[0]);
    const shown = server === DOCKER_HUB_SERVER ? server : server;
    if (!removeCredentials(configDir(ctx.io.env, ctx.globals.config), server)) {
      ctx.line(`Not logged in to ${shown}`);
      return 0;
    }
    ctx.line(`Removing login credentials for ${shown}`);
    return 0;
  },
};

export const commands: Record<string, Command> = { login, logout };
