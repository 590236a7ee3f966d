/** berthd's command line, modelled on dockerd's flags. */
import { Command } from 'commander';

export interface DaemonOptions {
  dataRoot: string;
  execRoot: string;
  hosts: string[];
  runtime: 'runc' | 'crun';
  logLevel: string;
  cgroupParent: string;
  liveRestore: boolean;
  bridge?: string;
  bip?: string;
  defaultAddressPools?: { base: string; size: number }[];
  group?: string;
  tls?: { verify: boolean; cacert?: string; cert?: string; key?: string };
  /** Plain TCP on a non-loopback address: anyone who can reach it owns the machine. */
  insecurePlainTcp: boolean;
  insecureRegistries: string[];
}

export function parseDaemonOptions(argv: string[]): DaemonOptions {
  const collect = (v: string, prev: string[]) => prev.concat([v]);
  const cmd = new Command('berthd')
    .description('berth engine: serves the Docker Engine API')
    .option('--data-root <dir>', 'root directory of persistent state', '/var/lib/berth')
    .option('--exec-root <dir>', 'root directory of execution state', '/run/berth')
    .option('-H, --host <addr>', 'daemon socket to listen on (repeatable)', collect, [])
    .option('--runtime <name>', 'OCI runtime: runc or crun', 'runc')
    .option('--default-runtime <name>', 'alias of --runtime')
    .option('-l, --log-level <level>', 'debug, info, warn, error', 'info')
    .option('--cgroup-parent <path>', 'parent cgroup for containers', '/berth')
    .option('--live-restore', 'keep containers running when the daemon stops', false)
    .option('-b, --bridge <name>', 'default bridge name')
    .option('--bip <cidr>', 'default bridge address')
    .option('--default-address-pool <spec>', 'pool for user networks: base=10.10.0.0/16,size=24 (repeatable)', collect, [])
    .option('--insecure-registry <registry>', 'registry (host[:port] or CIDR) reached over plain HTTP or with unverified TLS (repeatable)', collect, [])
    .option('--tls', 'use TLS for tcp listeners (implied by --tlsverify)', false)
    .option('--tlsverify', 'use TLS and require client certificates signed by --tlscacert', false)
    .option('--tlscacert <file>', 'CA that client certificates must be signed by')
    .option('--tlscert <file>', 'server certificate')
    .option('--tlskey <file>', 'server key')
    .option('--i-understand-plain-tcp-exposes-root', 'allow plain (unencrypted, unauthenticated) TCP on a non-loopback address', false)
    .option('-G, --group <name>', 'group for the unix socket', 'root')
    .allowExcessArguments(false)
    .version('0.1.0', '-v, --version');
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts();
  const runtime = (o.defaultRuntime ?? o.runtime) as string;
  if (runtime !== 'runc' && runtime !== 'crun') throw new Error(`unknown runtime ${runtime}: use runc or crun`);
  return {
    dataRoot: o.dataRoot, execRoot: o.execRoot, hosts: o.host.length ? o.host : ['unix:///run/berth.sock'],
    runtime, logLevel: o.logLevel, cgroupParent: o.cgroupParent, liveRestore: !!o.liveRestore, bridge: o.bridge, bip: o.bip,
    tls: o.tls || o.tlsverify ? { verify: !!o.tlsverify, cacert: o.tlscacert, cert: o.tlscert, key: o.tlskey } : undefined,
    insecurePlainTcp: !!o.iUnderstandPlainTcpExposesRoot,
    insecureRegistries: o.insecureRegistry,
    defaultAddressPools: o.defaultAddressPool.length ? o.defaultAddressPool.map(parsePool) : undefined, group: o.group,
  };
}

function parsePool(spec: string): { base: string; size: number } {
  const kv = Object.fromEntries(spec.split(',').map((p) => p.split('=') as [string, string]));
  if (!kv.base || !kv.size || !/^\d+$/.test(kv.size)) throw new Error(`invalid --default-address-pool ${spec}: expected base=CIDR,size=N`);
  return { base: kv.base, size: Number(kv.size) };
}
