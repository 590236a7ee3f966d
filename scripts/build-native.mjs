#!/usr/bin/env node
// Compiles berthd's native helpers into <outDir>/native/:
//   berth-nsexec  (src/runtime/native) enters a running container for `exec`, as runc exec does;
//   berth-monitor (src/runtime/native) holds a container's process, as conmon does, for less start-up;
//   berth-hostops (src/hostops/native) does mounts and named network namespaces without a process each;
//   malloc-trim.node (src/daemon/native) lets the daemon give freed C-heap pages back (Node-API module).
// outDir is BERTH_OUT_DIR (default dist), so each engineer's dist-<name>/ gets its own copy.
// A machine without a C compiler or libseccomp still builds: berthd then falls back to conmon +
// `runc exec` for every exec, and to mount(8)/ip(8) for host operations, which works, only
// slower — so this warns, not fails.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

const outDir = join(process.env.BERTH_OUT_DIR || 'dist', 'native');
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });

const programs = [
  { name: 'berth-nsexec', source: 'src/runtime/native/berth-nsexec.c', libs: ['-lseccomp'],
    without: 'berthd will run every exec through conmon + runc' },
  { name: 'berth-monitor', source: 'src/runtime/native/berth-monitor.c', libs: [],
    without: 'berthd will hold containers with conmon' },
  { name: 'berth-hostops', source: 'src/hostops/native/berth-hostops.c', libs: [],
    without: 'berthd will spawn mount(8) and ip(8) instead' },
];
// Node's own headers: beside the binary (official builds, NodeSource), or Debian's libnode-dev.
const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/include/nodejs/src']
  .find((d) => existsSync(join(d, 'node_api.h')));
if (nodeInclude) {
  programs.push({ name: 'malloc-trim.node', source: 'src/daemon/native/malloc-trim.c', libs: ['-shared', '-fPIC', `-I${nodeInclude}`],
    without: 'berthd will keep freed heap pages after large operations' });
} else {
  console.warn('build-native: malloc-trim.node not built (no node_api.h found); berthd will keep freed heap pages after large operations.');
}
for (const p of programs) {
  const target = join(outDir, p.name);
  const tmp = `${target}.tmp-${process.pid}`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, p.source, ...p.libs], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error ? `${cc}: ${r.error.message}` : `${cc} exited with ${r.status}`;
    console.warn(`build-native: ${p.name} not built (${why}); install gcc, libc6-dev and libseccomp-dev. ${p.without}.`);
    continue;
  }
  // A rename, so a daemon running the old binary is never handed a half-written file.
  renameSync(tmp, target);
}
