/** Runs the kernel tools (ip, iptables-restore) with optional stdin; failures become SystemErrors. */
import { execFile } from 'node:child_process';
import { SystemError } from '../errors/index.js';

export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new SystemError(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Same as run, but a failure is ignored (for idempotent teardown). */
export async function tryRun(cmd: string, args: string[], input?: string): Promise<boolean> {
  try { await run(cmd, args, input); return true; } catch { return false; }
}
