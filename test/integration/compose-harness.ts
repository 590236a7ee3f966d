/** Running `berth compose` (bin/berth) and peer clients against a private berthd in integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { distDir, repoRoot, type Berthd } from './helpers/berthd.js';

export interface RunResult { status: number | null; stdout: string; stderr: string }

/** Runs a command to completion (async, so the test's event loop keeps going). */
export function runProcess(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number; onSpawn?: (child: ChildProcess) => void; input?: string }): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = ''; let stderr = '';
    p.stdout.on('data', (x) => { stdout += x; });
    p.stderr.on('data', (x) => { stderr += x; });
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeout ?? 300_000);
    p.on('close', (status) => { clearTimeout(t); resolve({ status, stdout, stderr }); });
    p.stdin.end(opts.input ?? '');
    opts.onSpawn?.(p);
  });
}

/** The environment berth compose runs with against daemon `d` (this build's output directory). */
export function composeEnv(d: Berthd, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...d.env, BERTH_DIST: distDir, NO_COLOR: '1', XDG_CACHE_HOME: loadCacheDir(), ...extra };
}

let cacheDir: string | undefined;
/** berth compose's load cache for this test process (removed at exit), so tests leave nothing in ~/.cache. */
export function loadCacheDir(): string {
  if (!cacheDir) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-compose-cache-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    cacheDir = dir;
  }
  return cacheDir;
}

/** `berth compose <args>` in `cwd`. */
export function berthCompose(d: Berthd, cwd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number; onSpawn?: (child: ChildProcess) => void } = {}): Promise<RunResult> {
  return runProcess(process.execPath, [join(repoRoot, 'bin', 'berth'), 'compose', ...args], { cwd, env: composeEnv(d, opts.env), timeout: opts.timeout, onSpawn: opts.onSpawn });
}

/** A temp copy of examples/compose-sample named `compose-sample` (the project name comes from the directory). */
export function sampleCopy(): { dir: string; cleanup: () => void } {
  const parent = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  const dir = join(parent, 'compose-sample');
  cpSync(join(repoRoot, 'examples', 'compose-sample'), dir, { recursive: true });
  return { dir, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

/** A temp directory `<tmp>/<name>` with the given files. */
export function tempProject(files: Record<string, string>, name = 'proj'): { dir: string; cleanup: () => void } {
  const parent = mkdtempSync(join(tmpdir(), 'berth-compose-'));
  const dir = join(parent, name);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return { dir, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}
