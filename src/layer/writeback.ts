/**
 * Early writeback for big files written on the way to a commit that ends in one syncfs: every WRITEBACK_STEP bytes
 * an fdatasync is started in the thread pool (not awaited, at most one per file at a time), so the disk writes
 * overlap with the download instead of all waiting for the final flush. The final syncfs stays the durability point;
 * these are only a head start (their errors are ignored: the syncfs reports the truth).
 *
 * A file with a flush in flight is closed when the flush is done (closing a descriptor the thread pool still uses
 * could hit a reused number).
 */
import * as fs from 'node:fs';

export const WRITEBACK_STEP = 16 << 20;

const inFlight = new Set<number>();
const closeWhenDone = new Set<number>();

/** Starts flushing fd's written data to disk, unless a flush of it is running already. */
export function kickWriteback(fd: number): void {
  if (inFlight.has(fd)) return;
  inFlight.add(fd);
  fs.fdatasync(fd, () => {
    inFlight.delete(fd);
    if (closeWhenDone.delete(fd)) fs.close(fd, () => { /* nothing to report */ });
  });
}

/** Closes fd now, or as soon as its flush is done. */
export function closeAfterWriteback(fd: number): void {
  if (inFlight.has(fd)) closeWhenDone.add(fd);
  else fs.closeSync(fd);
}

/** Counts bytes written to one file and kicks its writeback every WRITEBACK_STEP bytes. */
export class WritebackCounter {
  private sinceKick = 0;
  constructor(private readonly fd: number) {}
  wrote(n: number): void {
    this.sinceKick += n;
    if (this.sinceKick >= WRITEBACK_STEP) { this.sinceKick = 0; kickWriteback(this.fd); }
  }
}
