/**
 * Test harness: starts a private berthd (temp data root, exec root, socket, cgroup parent),
 * drives it with the real docker CLI, and removes every mount, process and directory after.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Repository root: this file is <root>/<dist>/test/integration/helpers/berthd.js. */
export const repoRoot = join(here, '..', '..', '..', '..');
export const distDir = relative(repoRoot, join(here, '..', '..', '..')).split(sep)[0];
export const sharedDir = join(repoRoot, '..', 'shared');

export interface Berthd {
  dir: string;
  socket: string;
  host: string;
  dataRoot: string;
  execRoot: string;
  env: NodeJS.ProcessEnv;
  proc: ChildProcess;
  log(): string;
  docker(args: string[], opts?: { input?: string | Buffer; timeout?: number }): SpawnSyncReturns<string>;
  dockerAsync(args: string[], opts?: { input?: string | Buffer; timeout?: number }): Promise<{ status: number | null; stdout: string; stderr: string }>;
  api(method: string, path: string, body?: string | Buffer, headers?: Record<string, string>): Promise<{ status: number; body: string; json: any }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Network namespaces this daemon made that still exist. */
  netnsLeft(): string[];
  /** Stops the daemon and removes everything it made. */
  cleanup(): Promise<void>;
}

export interface StartOptions { dir?: string; extraArgs?: string[]; keep?: boolean; env?: Record<string, string> }

export async function startBerthd(opts: StartOptions = {}): Promise<Berthd> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'berth-it-'));
  const socket = join(dir, 'd.sock');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const cgroupParent = '/berth-test-' + dir.split('-').pop();
  const host = `unix://${socket}`;
  // Own bridge and subnets, so test daemons never meet each other or a real one.
  const rnd = (n: number) => Math.floor(Math.random() * n);
  const bridge = `brt${dir.split('-').pop()!.slice(0, 8).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`;
  const netArgs = opts.extraArgs?.includes('--bridge') ? [] : ['--bridge', bridge, '--bip', `10.${226 + rnd(29)}.${rnd(256)}.1/24`, '--default-address-pool', `base=10.${100 + rnd(90)}.0.0/16,size=24`];
  let logText = '';
  const proc = spawn(process.execPath, [join(repoRoot, 'bin', 'berthd'), '--data-root', dataRoot, '--exec-root', execRoot, '-H', host, '--cgroup-parent', cgroupParent, ...netArgs, ...(opts.extraArgs ?? [])], {
    env: { ...process.env, BERTH_DIST: distDir, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => { logText += d; });
  proc.stderr!.on('data', (d) => { logText += d; });
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') };
  const d: Berthd = {
    dir, socket, host, dataRoot, execRoot, env, proc,
    log: () => logText,
    docker: (args, o = {}) => spawnSync('docker', args, { env, input: o.input, encoding: 'utf8', timeout: o.timeout ?? 60_000, killSignal: 'SIGKILL' }),
    dockerAsync: (args, o = {}) => new Promise((resolve) => {
      const p = spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = ''; let stderr = '';
      p.stdout.on('data', (x) => { stdout += x; }); p.stderr.on('data', (x) => { stderr += x; });
      const t = setTimeout(() => p.kill('SIGKILL'), o.timeout ?? 60_000);
      p.on('close', (status) => { clearTimeout(t); resolve({ status, stdout, stderr }); });
      if (o.input !== undefined) p.stdin.end(o.input); else p.stdin.end();
    }),
    api: (method, path, body, headers = {}) => apiCall(socket, method, path, body, headers),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await done;
    },
    netnsLeft: () => {
      const tag = createHash('sha256').update(execRoot).digest('hex').slice(0, 6);
      return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`berth-${tag}-`));
    },
    cleanup: async () => {
      await d.stop();
      const leaked = d.netnsLeft();
      for (const ns of leaked) spawnSync('ip', ['netns', 'del', ns]);
      if (leaked.length) process.stderr.write(`berthd test harness: removed leaked netns ${leaked.join(' ')}\n`);
      cleanupDir(dir, cgroupParent, opts.keep);
      spawnSync('ip', ['link', 'del', bridge]);
      removeChains(createHash('sha256').update(execRoot).digest('hex').slice(0, 6).toUpperCase());
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`berthd exited early: ${logText}`);
    try { const r = await d.api('GET', '/_ping'); if (r.status === 200) break; } catch { /* not yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`berthd did not answer /_ping: ${logText}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return d;
}

/** Unmounts whatever is still mounted below dir, kills leftover monitors, removes cgroups and the dir. */
export function cleanupDir(dir: string, cgroupParent?: string, keepDir = false): void {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir)).sort().reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  for (const pid of pidsMentioning(dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (cgroupParent) {
    for (const c of ['memory', 'pids', 'cpu,cpuacct', 'cpuset', 'blkio', 'devices', 'freezer', 'net_cls,net_prio', 'perf_event', 'hugetlb', 'systemd', 'unified', 'cpu', 'cpuacct', 'net_cls', 'net_prio', 'rdma', 'misc']) {
      const p = join('/sys/fs/cgroup', c, cgroupParent);
      if (existsSync(p)) spawnSync('find', [p, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
  }
  if (!keepDir) rmSync(dir, { recursive: true, force: true });
}

/** Removes the iptables chains (BERTH-<tag>-…) a daemon kept because containers were left running at its stop. */
export function removeChains(tag: string): void {
  for (const table of ['filter', 'nat']) {
    const dump = spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' }).stdout ?? '';
    const prefix = `BERTH-${tag}-`;
    const chains = dump.split('\n').filter((l) => l.startsWith(`:${prefix}`)).map((l) => l.slice(1).split(' ')[0]);
    if (!chains.length) continue;
    for (const line of dump.split('\n')) {
      const m = /^-A (\S+) (.*)$/.exec(line);
      if (m && !m[1].startsWith(prefix) && chains.some((c) => m[2].includes(`-j ${c}`))) spawnSync('iptables', ['-t', table, '-D', m[1], ...m[2].split(' ')]);
    }
    for (const c of chains) spawnSync('iptables', ['-t', table, '-F', c]);
    for (const c of chains) spawnSync('iptables', ['-t', table, '-X', c]);
  }
}

/** The parent of a process (the monitor of a container's init, say), from /proc/PID/stat. */
export function parentPid(pid: number | string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Processes whose command line names dir (conmon monitors of this daemon). */
export function pidsMentioning(dir: string): number[] {
  const out: number[] = [];
  for (const p of spawnSync('ls', ['/proc'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)) out.push(Number(p)); } catch { /* gone */ }
  }
  return out;
}

export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
}

export function apiCall(socket: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string; json: any }> {
  return new Promise((resolve, reject) => {
    // agent: false — a kept-alive socket the daemon has already timed out would fail the write (EPIPE).
    const req = request({ socketPath: socket, agent: false, method, path, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, body: text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let busyboxTar: string | undefined;
/** The busybox rootfs tarball from shared/tools (built once per test process). */
export function busyboxRootfs(): string {
  if (busyboxTar && existsSync(busyboxTar)) return busyboxTar;
  const out = join(mkdtempSync(join(tmpdir(), 'berth-bb-')), 'busybox.tar');
  const r = spawnSync('bash', [join(sharedDir, 'tools', 'make-busybox-rootfs.sh'), out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make-busybox-rootfs failed: ${r.stderr}`);
  busyboxTar = out;
  process.on('exit', () => rmSync(join(out, '..'), { recursive: true, force: true }));
  return out;
}

/** Imports busybox as busybox:latest with CMD ["sh"], as the shared tools suggest. */
export function importBusybox(d: Berthd, tag = 'busybox:latest'): string {
  const r = d.docker(['import', '-c', 'CMD ["sh"]', busyboxRootfs(), tag]);
  if (r.status !== 0) throw new Error(`docker import failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Polls until fn returns truthy (conditions, not sleeps). */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
