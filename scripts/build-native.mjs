#!/usr/bin/env node
// Compiles berthd's native helpers (src/runtime/native/*.c) into <outDir>/native/.
// outDir is BERTH_OUT_DIR (default dist), so each engineer's dist-<name>/ gets its own copy.
// A machine without a C compiler or libseccomp still builds: berthd then falls back to
// `conmon` + `runc exec` for every exec, which works, only slower — so this warns, not fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const outDir = join(process.env.BERTH_OUT_DIR || 'dist', 'native');
const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });

const target = join(outDir, 'berth-nsexec');
const tmp = `${target}.tmp-${process.pid}`;
const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, 'src/runtime/native/berth-nsexec.c', '-lseccomp'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  const why = r.error ? `${cc}: ${r.error.message}` : `${cc} exited with ${r.status}`;
  console.warn(`build-native: berth-nsexec not built (${why}); install gcc, libc6-dev and libseccomp-dev. berthd will run every exec through conmon + runc.`);
  process.exit(0);
}
// A rename, so a daemon running the old binary is never handed a half-written file.
renameSync(tmp, target);
