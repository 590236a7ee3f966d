/**
 * berth compose against a real dockerd (Debian's docker.io 20.10), started here with the shared tools'
 * start-reference-dockerd.sh on this test's own socket, pidfile, data root and exec root, so it never meets a
 * benchmark's reference daemon. The sample application (examples/compose-sample) is brought up with
 * `up -d --wait` (web built by dockerd's classic builder from its Dockerfile), its services answer each other by
 * name, and `down -v` leaves nothing behind.
 *
 * Isolation: the daemon's default bridge is one this test creates (`brcmpd<tag>`, an address from the test's own
 * 10.x range) and deletes after. Not `--bridge=none`: dockerd 20.10 then deletes the host's `docker0`
 * (removeDefaultBridgeInterface), a bridge it did not create — a developer's real Docker or the shared reference
 * daemon. No iptables rules or sysctls of its own (`--iptables=false --ip-masq=false --ip-forward=false`), its own
 * cgroup parent and a test-only address pool. The last test stops the daemon and checks the host is as it was:
 * docker0 (if any) still there with the same ifindex, forwarding sysctls and Docker's iptables chains unchanged. A
 * compose.override.yaml in the sample's temp copy names the project network's bridge (so this test knows it in
 * advance) and binds published ports to 127.0.0.1. The host's FORWARD policy may be DROP with bridged traffic going
 * through iptables, so the test adds one ACCEPT rule for traffic within that bridge and removes it after; nothing
 * can route off the machine (no MASQUERADE, no forward to other interfaces).
 *
 * dockerd is required: CI installs docker.io. Without it this test fails, saying so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { busyboxRootfs, cleanupDir, distDir, mountsUnder, pidsMentioning, repoRoot, sharedDir, waitFor } from './helpers/berthd.js';
import { runProcess, sampleCopy, type RunResult } from './compose-harness.js';

const haveDockerd = spawnSync('sh', ['-c', 'command -v dockerd'], { encoding: 'utf8' }).status === 0;

/** A started docker.io daemon private to this test. */
interface Dockerd { dir: string; socket: string; env: NodeJS.ProcessEnv; scriptEnv: NodeJS.ProcessEnv; cgroupParent: string; log: string }

/** A 10.x.0.0/16 (as its second octet) no route on the host uses, outside the ranges other tests and benches take (10.100-189 berthd
 * pools, 10.197 bench-network, 10.215-220, 10.226-254). */
function freePoolOctet(): number {
  const routes = spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const free = [190, 191, 192, 193, 194, 195, 196, 198, 199, ...Array.from({ length: 15 }, (_, i) => 200 + i)]
    .filter((o) => !routes.includes(`10.${o}.`));
  if (!free.length) throw new Error('no free 10.x.0.0/16 for the test dockerd');
  return free[Math.floor(Math.random() * free.length)];
}

const iptables = (args: string[]) => spawnSync('iptables', args, { encoding: 'utf8' });
const hasRule = (chain: string, rule: string[]) => iptables(['-C', chain, ...rule]).status === 0;
const ip = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
const linkExists = (name: string) => existsSync(join('/sys/class/net', name));
const ifindex = (name: string): string | undefined => {
  try { return readFileSync(join('/sys/class/net', name, 'ifindex'), 'utf8').trim(); } catch { return undefined; }
};

/**
 * Host-global sysctls a dockerd may write (IPv6 forwarding, bridge netfilter, localnet routing): value by path.
 * Not net.ipv4.ip_forward: berthd daemons of tests running beside this one turn it on (as dockerd does), so
 * a change there is not this daemon's, and putting it back would break them.
 */
const watchedSysctls = [
  '/proc/sys/net/ipv6/conf/all/forwarding', '/proc/sys/net/ipv6/conf/default/forwarding',
  '/proc/sys/net/bridge/bridge-nf-call-iptables', '/proc/sys/net/bridge/bridge-nf-call-ip6tables',
  '/proc/sys/net/ipv4/conf/all/route_localnet',
];
function readSysctls(): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of watchedSysctls) { try { m.set(p, readFileSync(p, 'utf8').trim()); } catch { /* absent on this kernel */ } }
  return m;
}

/** Docker's own iptables chains (filter and nat), e.g. a host Docker's DOCKER, DOCKER-USER, DOCKER-ISOLATION-*. */
function dockerChains(): string[] {
  return ['filter', 'nat'].flatMap((t) => (iptables(['-t', t, '-S']).stdout ?? '').split('\n')
    .filter((l) => /^-N DOCKER/.test(l)).map((l) => `${t}:${l.slice(3)}`));
}

describe('berth compose against a real dockerd (docker.io)', () => {
  let d: Dockerd | undefined;
  let sample: { dir: string; cleanup: () => void } | undefined;
  let bridge = '';
  /** The daemon's default bridge: created here, deleted by teardown. */
  let defaultBridge = '';
  let defaultBridgeCreated = false;
  let defaultBridgeSubnet = '';
  // The host as it was before the daemon started.
  let docker0Before: string | undefined;
  let sysctlsBefore = new Map<string, string>();
  let chainsBefore: string[] = [];
  const forwardRule = () => ['-i', bridge, '-o', bridge, '-j', 'ACCEPT'];
  // start-reference-dockerd.sh's safety belt adds this to an existing DOCKER-USER chain; removed after if it was us.
  const beltRule = ['-i', 'docker0', '!', '-o', 'docker0', '-j', 'DROP'];
  let beltBefore = true;

  before(async () => {
    assert.ok(haveDockerd, 'docker.io is required for this test (dockerd not on PATH): apt-get install docker.io');
    const dir = mkdtempSync('/tmp/berth-cmpd-');
    const tag = dir.split('-').pop()!.toLowerCase().replace(/[^a-z0-9]/g, 'x');
    bridge = `brcmp${tag}`;
    defaultBridge = `brcmpd${tag}`;
    const octet = freePoolOctet();
    defaultBridgeSubnet = `10.${octet}.255.0/24`;
    const cgroupParent = `/berth-cmpd-${tag}`;
    const socket = join(dir, 'd.sock');
    const log = join(dir, 'dockerd.log');
    const scriptEnv: NodeJS.ProcessEnv = {
      ...process.env,
      REFERENCE_DOCKER_SOCK: socket,
      REFERENCE_DOCKER_PIDFILE: join(dir, 'dockerd.pid'),
      REFERENCE_DOCKER_DATA: join(dir, 'data'),
      REFERENCE_DOCKER_EXEC: join(dir, 'exec'),
      REFERENCE_DOCKER_LOG: log,
      // `--bip=` after the script's own --bip: -b and --bip are mutually exclusive in dockerd; the default bridge
      // takes its subnet from the address on it. User networks come from the rest of the same /16.
      REFERENCE_DOCKERD_EXTRA: [
        '--bip=', `--bridge=${defaultBridge}`, '--iptables=false', '--ip-masq=false', '--ip-forward=false', '--ip=127.0.0.1',
        `--default-address-pool=base=10.${octet}.0.0/16,size=24`, `--cgroup-parent=${cgroupParent}`,
      ].join(' '),
    };
    docker0Before = ifindex('docker0');
    sysctlsBefore = readSysctls();
    chainsBefore = dockerChains();
    beltBefore = hasRule('DOCKER-USER', beltRule);
    assert.ok(!linkExists(defaultBridge), `${defaultBridge} already exists: not this test's`);
    for (const args of [['link', 'add', defaultBridge, 'type', 'bridge'], ['addr', 'add', `10.${octet}.255.1/24`, 'dev', defaultBridge], ['link', 'set', defaultBridge, 'up']]) {
      const r = ip(args);
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
      defaultBridgeCreated = true;
    }
    d = { dir, socket, cgroupParent, log, scriptEnv, env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'docker-config'), BERTH_DIST: distDir, NO_COLOR: '1', XDG_CACHE_HOME: join(dir, 'cache') } };
    const started = spawnSync('bash', [join(sharedDir, 'tools', 'start-reference-dockerd.sh')], { env: scriptEnv, encoding: 'utf8', timeout: 90_000 });
    assert.equal(started.status, 0, `start-reference-dockerd.sh failed: ${started.stdout}${started.stderr}`);
    const imported = spawnSync('docker', ['import', '-c', 'CMD ["sh"]', busyboxRootfs(), 'busybox:latest'], { env: d.env, encoding: 'utf8' });
    assert.equal(imported.status, 0, imported.stderr);
    sample = sampleCopy();
    writeFileSync(join(sample.dir, 'compose.override.yaml'), `networks:
  default:
    driver_opts:
      com.docker.network.bridge.name: ${bridge}
      com.docker.network.bridge.host_binding_ipv4: "127.0.0.1"
`);
    iptables(['-I', 'FORWARD', ...forwardRule()]);
  });

  /** Stops the daemon and removes all this test made (idempotent: the last test runs it, after() again). */
  const teardown = async () => {
    if (d && sample) await compose(['down', '-v', '-t', '1']).catch(() => undefined);
    if (d) {
      spawnSync('bash', [join(sharedDir, 'tools', 'stop-reference-dockerd.sh')], { env: d.scriptEnv, encoding: 'utf8', timeout: 60_000 });
      for (const pid of pidsMentioning(d.dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      cleanupDir(d.dir, d.cgroupParent);
      // cgroup v2 (unified hierarchy at the root): the parent cgroup dockerd made, if any is left
      const v2 = join('/sys/fs/cgroup', d.cgroupParent);
      if (existsSync(join('/sys/fs/cgroup', 'cgroup.controllers')) && existsSync(v2)) spawnSync('find', [v2, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
    while (bridge && hasRule('FORWARD', forwardRule())) iptables(['-D', 'FORWARD', ...forwardRule()]);
    if (!beltBefore && hasRule('DOCKER-USER', beltRule)) iptables(['-D', 'DOCKER-USER', ...beltRule]);
    // Only links this test created, by their exact names; the daemon is gone, so nothing re-creates them.
    if (bridge && linkExists(bridge)) ip(['link', 'del', bridge]);
    if (defaultBridgeCreated && linkExists(defaultBridge)) ip(['link', 'del', defaultBridge]);
    sample?.cleanup();
    sample = undefined;
    d = undefined;
  };

  after(async () => {
    const sysctlsNow = readSysctls();
    await teardown();
    // A sysctl the daemon flipped goes back to what it was (the last test fails when that happened).
    for (const [p, v] of sysctlsBefore) if (sysctlsNow.get(p) !== v) { try { writeFileSync(p, v); } catch { /* read-only */ } }
  });

  const compose = (args: string[]): Promise<RunResult> => runProcess(process.execPath, [join(repoRoot, 'bin', 'berth'), 'compose', ...args], { cwd: sample!.dir, env: d!.env });
  const docker = (args: string[]) => spawnSync('docker', args, { env: d!.env, encoding: 'utf8', timeout: 60_000 });
  const dockerLog = () => (d && existsSync(d.log) ? readFileSync(d.log, 'utf8').split('\n').slice(-30).join('\n') : '');
  const fromWorker = async (url: string): Promise<string> => {
    let last = '';
    const out = await waitFor(async () => {
      const r = await compose(['exec', '-T', 'worker', 'wget', '-q', '-O-', url]);
      last = `${r.status} ${r.stdout} ${r.stderr}`;
      return r.status === 0 && r.stdout ? r.stdout : undefined;
    }, `the worker to fetch ${url}`, 30_000).catch((e: Error) => { throw new Error(`${e.message}; last: ${last}`); });
    return out ?? '';
  };

  test('up -d --wait builds web with dockerd, starts db healthy and the worker; services answer each other by name', async () => {
    const up = await compose(['up', '-d', '--wait']);
    assert.equal(up.status, 0, `${up.stderr}\ndockerd log:\n${dockerLog()}`);
    assert.match(up.stderr, /Container compose-sample-db-1 {2}Healthy/);
    assert.match(up.stderr, /Successfully built [0-9a-f]{12}/, 'dockerd built web from its Dockerfile');
    const ps = await compose(['ps', '--format', 'json']);
    assert.equal(ps.status, 0, ps.stderr);
    const list = ps.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Name: string; State: string; Health?: string });
    assert.deepEqual(list.map((c) => [c.Name, c.State]), [
      ['compose-sample-db-1', 'running'], ['compose-sample-web-1', 'running'], ['compose-sample-worker-1', 'running'],
    ]);
    const health = docker(['inspect', '-f', '{{.State.Health.Status}}', 'compose-sample-db-1', 'compose-sample-web-1']);
    assert.equal(health.stdout, 'healthy\nhealthy\n', 'dockerd itself ran the health checks');
    const labels = JSON.parse(docker(['inspect', '-f', '{{json .Config.Labels}}', 'compose-sample-worker-1']).stdout) as Record<string, string>;
    assert.equal(labels['com.docker.compose.project'], 'compose-sample');
    assert.equal(labels['com.docker.compose.service'], 'worker');

    assert.equal(await fromWorker('http://web/greeting'), 'hello\n');
    assert.equal(await fromWorker('http://db:8080/boots'), '1\n');

    // The published port is on loopback only (the override's host_binding_ipv4) and answers from here.
    const port = await compose(['port', 'web', '80']);
    assert.equal(port.status, 0, port.stderr);
    const m = /^127\.0\.0\.1:(\d+)$/.exec(port.stdout.trim());
    assert.ok(m, `web's port 80 published on 127.0.0.1: ${port.stdout}`);
    assert.equal(await httpGet(`http://127.0.0.1:${m[1]}/greeting`), 'hello\n');
  });

  test('down -v leaves no container, network, volume or bridge behind', async () => {
    const down = await compose(['down', '-v', '-t', '2']);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(docker(['ps', '-aq']).stdout, '');
    assert.equal(docker(['network', 'ls', '-q', '--filter', 'label=com.docker.compose.project=compose-sample']).stdout, '');
    assert.equal(docker(['volume', 'ls', '-q']).stdout, '');
    assert.notEqual(spawnSync('ip', ['link', 'show', bridge]).status, 0, `bridge ${bridge} removed`);
    assert.deepEqual(mountsUnder(join(d!.dir, 'data')).filter((x) => x.includes('/overlay2/')), [], 'no container filesystem left mounted');
  });

  test('stopping the daemon leaves the host as it was: docker0 untouched, its own bridge gone, no sysctl or Docker chain changed', async () => {
    assert.ok(linkExists(defaultBridge), `the daemon ran on this test's bridge ${defaultBridge}`);
    const def = docker(['network', 'inspect', 'bridge', '-f', '{{index .Options "com.docker.network.bridge.name"}} {{(index .IPAM.Config 0).Subnet}}']);
    assert.equal(def.stdout.trim(), `${defaultBridge} ${defaultBridgeSubnet}`, `dockerd's default network is this test's bridge: ${def.stderr}`);
    const sysctlsNow = readSysctls();
    await teardown();
    assert.equal(ifindex('docker0'), docker0Before, docker0Before ? `the host's docker0 (ifindex ${docker0Before}) is still there, the same link` : 'no docker0 appeared');
    assert.ok(!linkExists(defaultBridge), `${defaultBridge} removed`);
    assert.ok(!linkExists(bridge), `${bridge} removed`);
    const changed = [...sysctlsBefore].filter(([p, v]) => sysctlsNow.get(p) !== v).map(([p, v]) => `${p}: ${v} -> ${sysctlsNow.get(p)}`);
    assert.deepEqual(changed, [], 'no host sysctl changed while the daemon ran (after() restores any that did)');
    const chainsNow = dockerChains();
    assert.deepEqual(chainsBefore.filter((c) => !chainsNow.includes(c)), [], 'every Docker iptables chain the host had is still there');
    assert.ok(!hasRule('FORWARD', forwardRule()), 'the test\'s FORWARD rule removed');
  });
});

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
