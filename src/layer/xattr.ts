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

/**
 * Directories under `root` that carry trusted.overlay.opaque=y, as paths relative to root ('' = root), from one
 * getfattr walk. (Value "x" means "has xattr whiteouts", not opaque, and is ignored.)
 */
export async function readOpaqueDirs(root: string): Promise<Set<string>> {
  const r = await execFile('getfattr', ['-R', '-P', '-h', '--absolute-names', '-d', '-e', 'text', '-m', '^trusted\\.overlay\\.opaque$', '--', root]);
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr !== '') throw new SystemError(`getfattr on ${root} failed: ${r.stderr}`);
  const out = new Set<string>();
  let file: string | null = null;
  const prefix = root.endsWith('/') ? root : root + '/';
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (line.startsWith('# file: ')) { file = unquotePath(line.slice(8)); continue; }
    if (file !== null && line === `${OPAQUE_XATTR}="y"`) {
      if (file === root || file + '/' === prefix) out.add('');
      else if (file.startsWith(prefix)) out.add(file.slice(prefix.length));
    }
  }
  return out;
}
