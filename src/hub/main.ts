/**
 * bin/berth-hub: `serve` runs the Hub; `user create`, `repo visibility` and `org create` are admin
 * commands on the same data directory (safe while the Hub runs: SQLite in WAL mode).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseListen } from '../registry/index.js';
import { HubStore, type Visibility } from './db.js';
import { startHub } from './server.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function visibility(v: string): Visibility {
  if (v !== 'public' && v !== 'private') throw new InvalidArgumentError('expected public or private');
  return v;
}

const openStore = (dir: string): HubStore => new HubStore(join(dir, 'hub.db'));

export async function main(argv: string[]): Promise<void> {
  const program = new Command('berth-hub').description('berth Hub: accounts, public and private repositories, search and a web interface over berth\'s registry');
  program.exitOverride();

  program.command('serve').description('run the Hub (registry API and web interface on one address)')
    .requiredOption('--data <dir>', 'data directory (metadata database and registry storage)')
    .option('--listen <addr>', 'host:port', '127.0.0.1:5080')
    .option('--tls-cert <file>', 'PEM certificate (serve HTTPS)')
    .option('--tls-key <file>', 'PEM key')
    .option('--default-visibility <v>', 'visibility of repositories created by a push', visibility, 'private' as Visibility)
    .option('--allow-signup', 'let anyone create an account on the web page', false)
    .option('--token-ttl <seconds>', 'lifetime of registry tokens', (v) => Number(v), 300)
    .option('--webhook-retry-delay <ms>', 'first webhook retry delay (doubles per attempt)', (v) => Number(v), 2000)
    .option('--webhook-attempts <n>', 'attempts per webhook delivery', (v) => Number(v), 5)
    .action(async (o: { data: string; listen: string; tlsCert?: string; tlsKey?: string; defaultVisibility: Visibility; allowSignup: boolean; tokenTtl: number; webhookRetryDelay: number; webhookAttempts: number }) => {
      if (!!o.tlsCert !== !!o.tlsKey) throw new Error('TLS needs both --tls-cert and --tls-key');
      const { host, port } = parseListen(o.listen);
      const hub = await startHub({
        dataDir: o.data, host, port, defaultVisibility: o.defaultVisibility, allowSignup: o.allowSignup, tokenTtlSec: o.tokenTtl,
        webhookBaseDelayMs: o.webhookRetryDelay, webhookAttempts: o.webhookAttempts,
        tls: o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined,
      });
      process.stdout.write(`berth-hub listening on ${hub.url}\n`);
      const stop = (): void => { hub.close().then(() => process.exit(0), () => process.exit(1)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  const user = program.command('user').description('manage accounts');
  user.command('create <name>').description('create a user; the password is read from stdin')
    .requiredOption('--data <dir>', 'data directory').option('--admin', 'administrator (owner of every namespace)', false)
    .action(async (name: string, o: { data: string; admin: boolean }) => {
      const password = await readStdin();
      const store = openStore(o.data);
      try { await store.createUser(name, password, o.admin); } finally { store.close(); }
      process.stdout.write(`created user ${name}${o.admin ? ' (admin)' : ''}\n`);
    });
  user.command('password <name>').description('set a user\'s password, read from stdin').requiredOption('--data <dir>', 'data directory')
    .action(async (name: string, o: { data: string }) => {
      const password = await readStdin();
      const store = openStore(o.data);
      try { await store.setPassword(name, password); } finally { store.close(); }
    });

  const repo = program.command('repo').description('manage repositories');
  repo.command('visibility <name> <visibility>').description('make a repository public or private (also while the Hub runs)')
    .requiredOption('--data <dir>', 'data directory')
    .action((name: string, v: string, o: { data: string }) => {
      const store = openStore(o.data);
      try { store.setVisibility(name, visibility(v)); } finally { store.close(); }
      process.stdout.write(`${name} is now ${v}\n`);
    });

  const org = program.command('org').description('manage organisations');
  org.command('create <name>').requiredOption('--owner <user>', 'first owner').requiredOption('--data <dir>', 'data directory')
    .action((name: string, o: { owner: string; data: string }) => {
      const store = openStore(o.data);
      try {
        const u = store.user(o.owner);
        if (!u) throw new Error(`no user ${o.owner}`);
        store.createOrg(name, u);
      } finally { store.close(); }
    });
  org.command('member <org> <user> <role>').description('add a member or change their role (owner, write, read)').requiredOption('--data <dir>', 'data directory')
    .action((name: string, userName: string, role: string, o: { data: string }) => {
      const store = openStore(o.data);
      try { store.setMember(name, userName, role as 'owner' | 'write' | 'read'); } finally { store.close(); }
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) process.exit(e.exitCode ?? 2);
    throw err;
  }
}
