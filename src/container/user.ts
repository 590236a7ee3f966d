/** Resolves Docker's `User` ("name", "uid", "uid:gid", "name:group") against the container's own /etc files. */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidParameterError } from '../errors/index.js';

function readEtc(rootfs: string, file: string): string[][] {
  const p = join(rootfs, 'etc', file);
  try {
    if (!lstatSync(p).isFile()) return [];   // never follow a symlink out of the root
    return readFileSync(p, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch { return []; }
}

export function resolveUser(rootfs: string, spec: string | undefined, groupAdd: string[] = []): { uid: number; gid: number; additionalGids: number[]; home: string } {
  const [u = '', g] = (spec ?? '').split(':');
  const passwd = readEtc(rootfs, 'passwd');
  const groups = readEtc(rootfs, 'group');
  let uid = 0; let gid = 0; let home = '/root'; let name = 'root';
  if (u) {
    const entry = /^\d+$/.test(u) ? passwd.find((p) => p[2] === u) : passwd.find((p) => p[0] === u);
    if (entry) { uid = Number(entry[2]); gid = Number(entry[3]); home = entry[5] || '/'; name = entry[0]; }
    else if (/^\d+$/.test(u)) { uid = Number(u); gid = uid === 0 ? 0 : 0; home = '/'; name = ''; }
    else throw new InvalidParameterError(`unable to find user ${u}: no matching entries in passwd file`);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const ge = groups.find((x) => x[0] === g);
      if (!ge) throw new InvalidParameterError(`unable to find group ${g}: no matching entries in group file`);
      gid = Number(ge[2]);
    }
  }
  // As dockerd: the primary group first, then the groups that list the user, then --group-add.
  const additional = new Set<number>([gid]);
  if (name) for (const ge of groups) if ((ge[3] ?? '').split(',').includes(name)) additional.add(Number(ge[2]));
  for (const a of groupAdd) {
    if (/^\d+$/.test(a)) additional.add(Number(a));
    else {
      const ge = groups.find((x) => x[0] === a);
      if (!ge) throw new InvalidParameterError(`Unable to find group ${a}: no matching entries in group file`);
      additional.add(Number(ge[2]));
    }
  }
  return { uid, gid, additionalGids: [...additional], home };
}
