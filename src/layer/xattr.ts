/**
 * Overlay opaque-directory markers (xattr trusted.overlay.opaque=y). Node has no xattr API, so these go through
 * the `attr` package's tools in ONE process per layer: `setfattr --restore` for writing, `getfattr -R` for reading.
 */
import { run, execFile } from './exec.js';
import { SystemError } from '../errors/index.js';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** getfattr/setfattr quote file names as backslash + 3 octal digits; quoting every unusual byte is always safe. */
export function quotePath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    const safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2f || b === 0x2e || b === 0x5f || b === 0x2d;
    out += safe ? String.fromCharCode(b) : '\\' + b.toString(8).padStart(3, '0');
  }
  return out;
}

export function unquotePath(q: string): string {
  if (!q.includes('\\')) return q;
  const bytes: number[] = [];
  const raw = Buffer.from(q, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x5c && i + 3 < raw.length + 0 && isOct(raw[i + 1]) && isOct(raw[i + 2]) && isOct(raw[i + 3])) {
      bytes.push(((raw[i + 1]! - 48) << 6) | ((raw[i + 2]! - 48) << 3) | (raw[i + 3]! - 48));
      i += 3;
    } else bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

function isOct(b: number | undefined): boolean { return b !== undefined && b >= 0x30 && b <= 0x37; }

/** Marks directories (paths relative to `root`, '' = root itself) opaque, in one setfattr process. */
export async function setOpaque(root: string, relDirs: Iterable<string>): Promise<void> {
  let dump = '';
  for (const rel of relDirs) dump += `# file: ${quotePath(rel === '' ? '.' : rel)}\n${OPAQUE_XATTR}="y"\n\n`;
  if (dump === '') return;
  await run('setfattr', ['-h', '--restore=-'], { input: dump, cwd: root });
}

export interface TreeXattrs {
  /** Directories carrying trusted.overlay.opaque=y, relative to the root ('' = the root). */
  opaque: Set<string>;
  /** Extended attributes to carry into a tar (security.capability, as Docker does), by relative path. */
  attrs: Map<string, Array<[string, Buffer]>>;
}

/**
 * One getfattr walk over `root` for what a layer tar needs: opaque markers (only when `overlay`) and file
 * capabilities. (Opaque value "x" means "has xattr whiteouts", not opaque, and is ignored.)
 */
export async function readTreeXattrs(root: string, overlay: boolean): Promise<TreeXattrs> {
  const pattern = overlay ? '^(trusted\\.overlay\\.opaque|security\\.capability)$' : '^security\\.capability$';
  const r = await execFile('getfattr', ['-R', '-P', '-h', '--absolute-names', '-d', '-e', 'hex', '-m', pattern, '--', root]);
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr !== '' && !/No such file/.test(r.stderr)) {
    throw new SystemError(`getfattr on ${root} failed: ${r.stderr}`);
  }
  const out: TreeXattrs = { opaque: new Set(), attrs: new Map() };
  let rel: string | null = null;
  const prefix = root.endsWith('/') ? root : root + '/';
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (line.startsWith('# file: ')) {
      const file = unquotePath(line.slice(8));
      rel = file === root || file + '/' === prefix ? '' : file.startsWith(prefix) ? file.slice(prefix.length) : null;
      continue;
    }
    const eq = line.indexOf('=0x');
    if (rel === null || eq < 0) continue;
    const name = line.slice(0, eq);
    const value = Buffer.from(line.slice(eq + 3), 'hex');
    if (name === OPAQUE_XATTR) { if (value.length === 1 && value[0] === 0x79) out.opaque.add(rel); }
    else {
      const list = out.attrs.get(rel) ?? [];
      list.push([name, value]);
      out.attrs.set(rel, list);
    }
  }
  return out;
}
