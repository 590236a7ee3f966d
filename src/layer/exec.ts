/** Runs a helper binary (mknod, setfattr, getfattr, mount, umount) with optional stdin; no shell. */
import { spawn } from 'node:child_process';
import { SystemError } from '../errors/index.js';

export interface ExecResult { code: number; stdout: Buffer; stderr: string }

export function execFile(cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new SystemError(e.code === 'ENOENT' ? `${cmd} is not installed (needed by the layer store)` : `${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8').trim() });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => { /* the child may exit before reading everything; its exit code tells */ });
      child.stdin!.end(opts.input);
    }
  });
}

/** execFile that throws SystemError on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string } = {}): Promise<ExecResult> {
  const r = await execFile(cmd, args, opts);
  if (r.code !== 0) throw new SystemError(`${cmd} ${args.slice(0, 4).join(' ')}… failed (exit ${r.code}): ${r.stderr || 'no output'}`);
  return r;
}
