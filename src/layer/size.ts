/** Disk usage of a tree the way Docker reports layer and container sizes (SizeRw): each inode once, no dirs. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export async function directorySize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try { names = await fs.promises.readdir(d); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;   // removed while we walked (a running container)
      throw e;
    }
    for (const n of names) {
      const p = path.join(d, n);
      let st: fs.Stats;
      try { st = fs.lstatSync(p); } catch { continue; }
      if (st.isDirectory()) { await walk(p); continue; }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}
