/**
 * Gives the C heap's free pages back after large operations. A build context, a pulled layer or
 * a 200k-line log read goes through many buffers; once freed, their pages stay in the heap under
 * live allocations, and the daemon stays hundreds of MB resident while using tens. Every few
 * seconds, when resident anonymous memory is well above what V8 and the buffers in use account
 * for, malloc_trim(3) (native/malloc-trim.node) returns the difference.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'malloc-trim.node');
const EVERY_MS = 5_000;
/** What the C heap may hold beyond V8's heap and live buffers before a trim is worth it. */
const SLACK_BYTES = 24 << 20;
const PAGE = 4096;

/** Resident anonymous bytes (resident minus file-backed and shared), from /proc/self/statm. */
function residentAnon(): number {
  const [, resident, shared] = readFileSync('/proc/self/statm', 'latin1').split(' ').map(Number);
  return (resident - shared) * PAGE;
}

/** Starts the periodic trim; returns its stop. A machine where the module was not built gets none. */
export function startMemoryTrimmer(): () => void {
  let trim: () => boolean;
  try { trim = (createRequire(import.meta.url)(MODULE) as { trim: () => boolean }).trim; } catch { return () => undefined; }
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    if (residentAnon() - m.heapTotal - m.arrayBuffers > SLACK_BYTES) trim();
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
