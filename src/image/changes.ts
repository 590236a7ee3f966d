/**
 * Dockerfile-style `changes` for import and commit (`CMD ["sh"]`, `ENV A=b`, `EXPOSE 80`, …),
 * applied to an image's container config.
 */
import { InvalidParameterError } from '../errors/index.js';

function parseList(args: string): string[] {
  const t = args.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch { /* shell form */ }
  }
  return ['/bin/sh', '-c', t];
}

function parseKeyValues(args: string, instr: string): [string, string][] {
  const out: [string, string][] = [];
  const t = args.trim();
  if (!t.includes('=') || /^[^\s=]+\s/.test(t) && !/^[^\s=]+=/.test(t)) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(t);
    if (!m) throw new InvalidParameterError(`${instr} requires at least one argument`);
    return [[m[1], m[2]]];
  }
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g;
  let m;
  while ((m = re.exec(t))) {
    let v = m[2];
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1], v]);
  }
  return out;
}

export function applyChanges(config: Record<string, any>, changes: string[]): Record<string, any> {
  const c = { ...config };
  for (const line of changes) {
    const m = /^\s*(\w+)\s*([\s\S]*)$/.exec(line);
    if (!m || !line.trim()) continue;
    const instr = m[1].toUpperCase();
    const args = m[2];
    switch (instr) {
      case 'CMD': c.Cmd = parseList(args); break;
      case 'ENTRYPOINT': c.Entrypoint = parseList(args); break;
      case 'ENV': {
        const env: string[] = [...(c.Env ?? [])];
        for (const [k, v] of parseKeyValues(args, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`; else env.push(`${k}=${v}`);
        }
        c.Env = env; break;
      }
      case 'LABEL': c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(parseKeyValues(args, 'LABEL')) }; break;
      case 'EXPOSE': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of args.trim().split(/\s+/).filter(Boolean)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        c.ExposedPorts = ports; break;
      }
      case 'USER': c.User = args.trim(); break;
      case 'WORKDIR': c.WorkingDir = args.trim(); break;
      case 'STOPSIGNAL': c.StopSignal = args.trim(); break;
      case 'VOLUME': {
        const vols = { ...(c.Volumes ?? {}) };
        const t = args.trim();
        const list = t.startsWith('[') ? JSON.parse(t) as string[] : t.split(/\s+/);
        for (const v of list) vols[v] = {};
        c.Volumes = vols; break;
      }
      case 'ONBUILD': c.OnBuild = [...(c.OnBuild ?? []), args.trim()]; break;
      default: throw new InvalidParameterError(`${instr.toLowerCase()} is not a valid change command`);
    }
  }
  return c;
}
