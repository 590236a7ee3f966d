/** Runs the kernel tools (ip, iptables-restore) with optional stdin; failures become SystemErrors. */
import { runTool } from '../hostops/index.js';
import { SystemError } from '../errors/index.js';

/** Started by the hostops helper: the daemon's event loop does not stop for a fork of itself. */
export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runTool(cmd, args, input).catch((e: Error) => { throw new SystemError(`${cmd} ${args.join(' ')} failed: ${e.message}`); });
  if (r.code !== 0) throw new SystemError(`${cmd} ${args.join(' ')} failed: ${(r.stderr || `exit status ${r.code}`).trim()}`);
  return r.stdout;
}

/** Same as run, but a failure is ignored (for idempotent teardown). */
export async function tryRun(cmd: string, args: string[], input?: string): Promise<boolean> {
  try { await run(cmd, args, input); return true; } catch { return false; }
}
