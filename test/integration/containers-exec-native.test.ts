/**
 * docker exec through berth-nsexec (the fast non-TTY path), through the real docker CLI against a
 * private berthd: the exec'd process must be the container's own as runc would make it — same
 * namespaces, cgroups, capabilities, seccomp filter and no_new_privs as the container's init —
 * plus stdio, exit codes, Docker's error messages, detached runs, the pids limit, and the helper
 * never being a host file a container process could reach through /proc/PID/exe.
 * One test runs the same process specs through `runc exec` and through the helper and compares.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importBusybox, distDir, startBerthd, waitFor, type Berthd } from './helpers/berthd.js';
import { nsexecBinary, nsexecPlan, startNsexec } from '../../src/runtime/index.js';

const LOOP = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 0.1; done"];
const STATUS_LINES = /^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):.*$/gm;

function statusLines(text: string): string[] { return text.match(STATUS_LINES) ?? []; }

describe('docker exec through berth-nsexec', () => {
  let d: Berthd;

  before(async () => {
    assert.ok(nsexecBinary(), `berth-nsexec is not built in ${distDir}/native (scripts/build-native.mjs)`);
    d = await startBerthd();
    importBusybox(d);
    for (const [name, extra] of [['box', []], ['loose', ['--security-opt', 'seccomp=unconfined']], ['hard', ['--security-opt', 'no-new-privileges']], ['few', ['--pids-limit', '3']]] as const) {
      // `few` runs a lone sleep as its init: exactly one process of its three before any exec.
      const r = d.docker(['run', '-d', '--name', name, ...extra, 'busybox', ...(name === 'few' ? ['sleep', '1000'] : LOOP)]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => { await d?.cleanup(); });

  test('the exec process is in the init\'s namespaces and cgroups, with its capabilities, seccomp filter and no_new_privs', () => {
    for (const box of ['box', 'hard']) {
      const r = d.docker(['exec', box, 'sh', '-c', 'for n in pid mnt net uts ipc cgroup; do echo "$n $(readlink /proc/self/ns/$n) $(readlink /proc/1/ns/$n)"; done; echo ---; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup; echo ---; cat /proc/self/status; echo ---; cat /proc/1/status']);
      assert.equal(r.status, 0, r.stderr);
      const [ns, selfCg, initCg, selfStatus, initStatus] = r.stdout.split('---\n');
      for (const line of ns.trim().split('\n')) {
        const [name, mine, init] = line.split(' ');
        assert.ok(mine && mine === init, `${box}: ${name} namespace: ${mine} vs init ${init}`);
      }
      assert.equal(selfCg, initCg);
      assert.ok(selfCg.includes('pids:/'), selfCg);
      assert.deepEqual(statusLines(selfStatus), statusLines(initStatus));
      assert.ok(statusLines(selfStatus).includes('Seccomp:\t2'), selfStatus);
      assert.ok(statusLines(selfStatus).includes(`NoNewPrivs:\t${box === 'hard' ? 1 : 0}`), selfStatus);
    }
  });

  test('privileged exec: full capabilities, the container\'s seccomp filter still applies', () => {
    const r = d.docker(['exec', '--privileged', 'box', 'grep', '-E', '^(CapEff|CapBnd|Seccomp):', '/proc/self/status']);
    assert.equal(r.status, 0, r.stderr);
    const hostBnd = /CapBnd:\s*(\w+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    assert.match(r.stdout, new RegExp(`CapEff:\\s*${hostBnd}`));
    assert.match(r.stdout, /Seccomp:\s*2/);
  });

  test('what the container may not do, the exec may not do; seccomp=unconfined has no filter', () => {
    const unshare = d.docker(['exec', 'box', 'unshare', '-r', 'true']);
    assert.notEqual(unshare.status, 0);
    assert.match(unshare.stderr, /Operation not permitted/);
    const mount = d.docker(['exec', 'box', 'mount', '-t', 'tmpfs', 'x', '/mnt']);
    assert.notEqual(mount.status, 0);
    const loose = d.docker(['exec', 'loose', 'grep', '^Seccomp:', '/proc/self/status']);
    assert.equal(loose.status, 0, loose.stderr);
    assert.match(loose.stdout, /Seccomp:\s*0/);
  });

  test('a custom profile with errnoRet is the exec\'s filter too', () => {
    const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] });
    const file = join(d.dir, 'profile.json');
    writeFileSync(file, profile);
    const run = d.docker(['run', '-d', '--name', 'custom', '--security-opt', `seccomp=${file}`, 'busybox', ...LOOP]);
    assert.equal(run.status, 0, run.stderr);
    const r = d.docker(['exec', 'custom', 'mkdir', '/tmp/x']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Function not implemented/);
    assert.equal(d.docker(['exec', 'custom', 'touch', '/tmp/y']).status, 0);
    assert.equal(d.docker(['rm', '-f', 'custom']).status, 0);
  });

  test('user, workdir and environment exactly as asked; exit codes; stdin; separate stderr', () => {
    const info = JSON.parse(d.docker(['inspect', '-f', '{{json .Config}}', 'box']).stdout) as { Env: string[] | null; Hostname: string };
    const r = d.docker(['exec', '-u', '1000:1000', '-w', '/tmp', '-e', 'X=1', 'box', 'sh', '-c', 'id; pwd; env']);
    assert.equal(r.status, 0, r.stderr);
    const [id, pwd, ...rest] = r.stdout.trim().split('\n');
    assert.equal(id, 'uid=1000 gid=1000 groups=1000');   // the primary group among the groups, as dockerd sets them
    assert.equal(pwd, '/tmp');
    // sh adds PWD and SHLVL; the rest is the container's process environment (the default PATH, none
    // in its config), HOSTNAME, the -e variable and HOME as runc sets it (uid 1000 has no passwd entry: "/").
    const got = rest.filter((l) => !/^(PWD|SHLVL)=/.test(l)).sort();
    assert.equal(info.Env, null);
    assert.deepEqual(got, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${info.Hostname}`, 'X=1', 'HOME=/'].sort());

    const code = d.docker(['exec', 'box', 'sh', '-c', 'exit 3']);
    assert.equal(code.status, 3);
    const cat = d.docker(['exec', '-i', 'box', 'cat'], { input: 'hi\n' });
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'hi\n');
    const both = d.docker(['exec', 'box', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(both.stdout, 'out\n');
    assert.equal(both.stderr, 'err\n');
  });

  test('start failures: 127/126 with Docker\'s messages', () => {
    const nf = d.docker(['exec', 'box', 'nosuch']);
    assert.equal(nf.status, 127);
    assert.match(nf.stdout + nf.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in \$PATH: unknown/);
    const dir = d.docker(['exec', 'box', '/etc']);
    assert.equal(dir.status, 126);
    assert.match(dir.stdout + dir.stderr, /exec: "\/etc": permission denied/);
    const relative = d.docker(['exec', '-w', 'rel', 'box', 'pwd']);
    assert.equal(relative.status, 126);
    assert.match(relative.stdout + relative.stderr, /OCI runtime exec failed: exec failed: Cwd must be an absolute path: unknown/);
    assert.equal(d.docker(['exec', 'box', 'true']).status, 0);
  });

  test('exec -d: the exit code shows in the exec inspect', async () => {
    const created = await d.api('POST', '/containers/box/exec', JSON.stringify({ Cmd: ['sh', '-c', 'exit 5'] }));
    assert.equal(created.status, 201, created.body);
    const id = created.json.Id;
    const start = await d.api('POST', `/exec/${id}/start`, JSON.stringify({ Detach: true }));
    assert.equal(start.status, 200, start.body);
    const done = await waitFor(async () => { const x = await d.api('GET', `/exec/${id}/json`); return x.json.Running === false && x.json.ExitCode !== null ? x.json : undefined; }, 'detached exec to end');
    assert.equal(done.ExitCode, 5);
    assert.ok(done.Pid > 0);
    const viaCli = d.docker(['exec', '-d', 'box', 'sh', '-c', 'echo bg > /tmp/bg']);
    assert.equal(viaCli.status, 0, viaCli.stderr);
    await waitFor(() => d.docker(['exec', 'box', 'cat', '/tmp/bg']).stdout === 'bg\n', 'background exec output');
  });

  test('exec processes count against the container\'s pids limit', () => {
    // The init is 1 of 3; the exec's sh is the 2nd, so it can start one more process, not three.
    const r = d.docker(['exec', 'few', 'sh', '-c', 'sleep 1 & sleep 1 & sleep 1 & wait']);
    assert.match(r.stderr, /can't fork|Resource temporarily unavailable/, r.stderr);
    assert.equal(d.docker(['rm', '-f', 'few']).status, 0);   // its sleep ignores SIGTERM: no 10 s stop at cleanup
  });

  test('the helper runs from a sealed memfd, never from a host file', async () => {
    const created = await d.api('POST', '/containers/box/exec', JSON.stringify({ Cmd: ['sleep', '30'] }));
    const id = created.json.Id;
    assert.equal((await d.api('POST', `/exec/${id}/start`, JSON.stringify({ Detach: true }))).status, 200);
    const pid = (await d.api('GET', `/exec/${id}/json`)).json.Pid as number;
    const ppid = Number(/PPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const exe = readlinkSync(`/proc/${ppid}/exe`);
    assert.match(exe, /^\/memfd:berth-nsexec/, exe);
    // The exec parent: forked from the daemon's helper server (or, without one, spawned per exec).
    assert.match(readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0')[1], /^(serve|exec)$/);
    process.kill(pid, 'SIGKILL');
    const done = await waitFor(async () => { const x = await d.api('GET', `/exec/${id}/json`); return x.json.Running === false ? x.json : undefined; }, 'killed exec to end');
    assert.equal(done.ExitCode, 137);
  });

  test('the helper makes the same process as runc exec for the same spec', async () => {
    const id = d.docker(['inspect', '-f', '{{.Id}}', 'box']).stdout.trim();
    const config = JSON.parse(readFileSync(join(d.execRoot, 'bundles', id, 'config.json'), 'utf8'));
    const stateRoot = join(d.execRoot, 'runtime');
    assert.ok(existsSync(join(stateRoot, id, 'state.json')), 'runc state under <exec-root>/runtime');
    const script = 'grep -E "^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp)" /proc/self/status; umask; ulimit -a | sort; pwd; id; env | sort; cat /proc/self/oom_score_adj; ls -l /proc/self/ns | sed "s/.* //"; cat /proc/self/cgroup; ls /proc/self/fd';
    const caps = config.process.capabilities;
    const variants: Record<string, Record<string, unknown>> = {
      root: {},
      user: { user: { uid: 1000, gid: 1000, additionalGids: [10, 20] }, cwd: '/tmp', env: [...config.process.env, 'X=1'] },
      caps: { capabilities: { bounding: [...caps.bounding, 'CAP_SYS_ADMIN'], effective: ['CAP_SYS_ADMIN'], permitted: ['CAP_SYS_ADMIN', 'CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] } },
      nnp: { noNewPrivileges: true, user: { uid: 1, gid: 1 } },
    };
    const specFile = join(d.dir, 'process.json');
    for (const [name, v] of Object.entries(variants)) {
      const spec = { ...config.process, args: ['sh', '-c', script], ...v };
      writeFileSync(specFile, JSON.stringify(spec));
      const viaRunc = spawnSync('runc', ['--root', stateRoot, 'exec', '--process', specFile, id], { encoding: 'utf8' });
      assert.equal(viaRunc.status, 0, viaRunc.stderr);
      const plan = await nsexecPlan({ id, config, statePath: join(stateRoot, id, 'state.json'), cacheDir: join(d.execRoot, 'bundles', id) }, spec, '/root');
      assert.ok(plan, 'the helper supports the spec');
      let out = '';
      const p = await startNsexec(plan, { stdin: false, output: (_n, data) => { out += data; } });
      assert.equal(await p.exited, 0);
      await p.outputEnded;
      assert.equal(out, viaRunc.stdout + viaRunc.stderr, `${name}: the helper and runc differ`);
    }
    rmSync(specFile, { force: true });
  });

  test('through the helper server: every quick exec gives its output, its end and its exit code', async () => {
    const id = d.docker(['inspect', '-f', '{{.Id}}', 'box']).stdout.trim();
    const config = JSON.parse(readFileSync(join(d.execRoot, 'bundles', id, 'config.json'), 'utf8'));
    const target = { id, config, statePath: join(d.execRoot, 'runtime', id, 'state.json'), cacheDir: join(d.execRoot, 'bundles', id) };
    for (let i = 0; i < 30; i++) {
      const plan = await nsexecPlan(target, { ...config.process, args: ['sh', '-c', `echo ${i}; exit ${i % 4}`] }, '/root');
      let out = '';
      const p = await startNsexec(plan!, { stdin: false, socketDir: join(d.dir, 'nsexec'), output: (_n, data) => { out += data; } });
      assert.equal(await p.exited, i % 4);
      const ended = await Promise.race([p.outputEnded.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      assert.ok(ended, `exec ${i}: output never ended`);
      assert.equal(out, `${i}\n`);
    }
  });

  test('every syscall answers as under runc exec, newer-than-the-profile ones with ENOSYS', async (t) => {
    // A static probe that makes raw syscalls and prints the errno names, built into the container's root.
    const id = d.docker(['inspect', '-f', '{{.Id}}', 'box']).stdout.trim();
    const src = join(d.dir, 'probe.c');
    writeFileSync(src, '#define _GNU_SOURCE\n#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n'
      + 'int main(int c, char **v) { for (int i = 1; i < c; i++) { errno = 0; long r = syscall(strtol(v[i], 0, 0), 0, 0, 0, 0, 0, 0); printf("%s=%s ", v[i], r < 0 ? strerrorname_np(errno) : "ok"); } return 0; }\n');
    const built = spawnSync('cc', ['-O2', '-static', '-o', join(d.dataRoot, 'containers', id, 'rootfs', 'probe'), src], { encoding: 'utf8' });
    if (built.status !== 0) { t.skip(`no static C toolchain: ${built.stderr || built.error}`); return; }
    // Denied by the profile (EPERM), allowed, clone3 (ENOSYS by rule), and numbers past the profile's last syscall.
    const nrs = ['165', '272', '310', '39', '435', '439', '448', '450', '452', '460', '470', '500', '1000'];
    const ours = d.docker(['exec', 'box', '/probe', ...nrs]);
    assert.equal(ours.status, 0, ours.stderr);
    const config = JSON.parse(readFileSync(join(d.execRoot, 'bundles', id, 'config.json'), 'utf8'));
    const specFile = join(d.dir, 'probe.json');
    writeFileSync(specFile, JSON.stringify({ ...config.process, args: ['/probe', ...nrs] }));
    const viaRunc = spawnSync('runc', ['--root', join(d.execRoot, 'runtime'), 'exec', '--process', specFile, id], { encoding: 'utf8' });
    assert.equal(viaRunc.status, 0, viaRunc.stderr);
    assert.equal(ours.stdout, viaRunc.stdout);
    assert.match(ours.stdout, /165=EPERM .*435=ENOSYS .*1000=ENOSYS/);
  });
});
