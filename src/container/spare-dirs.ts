/**
 * Containers' directories made ahead of the creates that take them. A container's directory holds
 * its read/write layer (`upper`), overlay's work directory, the root's mount point and the log:
 * five metadata writes, each ~0.25 ms on the data root's journaled disk here. A create renames a
 * spare into place instead (one), and the next spare is made off the event loop afterwards.
 */
import { promises as fsp, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const PREFIX = '.spare-';
const PARTS = ['upper', 'work', 'rootfs'];
export const CONTAINER_LOG = 'container.log';

export class SpareContainerDirs {
  private readonly spares: string[] = [];
  private refilling = false;

  /** `root`: the containers' directory; `keep`: how many spares to hold. */
  constructor(private readonly root: string, private readonly log: (msg: string) => void, private readonly keep = 2) {}

  /** Makes `dir` a new container's directory: a spare renamed there, else made on the spot; then tops the spares up. */
  take(dir: string): void {
    let made = false;
    while (!made && this.spares.length) {
      try { renameSync(this.spares.pop()!, dir); made = true; } catch { /* gone meanwhile: the next, or a new one */ }
    }
    if (!made) {
      mkdirSync(dir, { recursive: true });   // one mkdir: the parent is there
      for (const p of PARTS) mkdirSync(join(dir, p));
      writeFileSync(join(dir, CONTAINER_LOG), '');
    }
    setImmediate(() => { void this.refill(); });
  }

  /** Tops the spares up, on the thread pool. */
  async refill(): Promise<void> {
    if (this.refilling) return;
    this.refilling = true;
    try {
      while (this.spares.length < this.keep) {
        const spare = join(this.root, PREFIX + randomBytes(8).toString('hex'));
        await fsp.mkdir(spare, { recursive: true });
        await Promise.all(PARTS.map((p) => fsp.mkdir(join(spare, p))).concat(fsp.writeFile(join(spare, CONTAINER_LOG), '')));
        this.spares.push(spare);
      }
    } catch (e) {
      this.log(`making a spare container directory: ${(e as Error).message}`);
    } finally {
      this.refilling = false;
    }
  }

  /** Removes spares an earlier daemon left (a spare is never anything but empty directories and an empty log). */
  sweep(): void {
    let names: string[] = [];
    try { names = readdirSync(this.root); } catch { return; }
    for (const n of names) if (n.startsWith(PREFIX) && !this.spares.includes(join(this.root, n))) rmSync(join(this.root, n), { recursive: true, force: true });
  }
}
