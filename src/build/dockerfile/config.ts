/**
 * Checks and normalisations the classic builder applies when an instruction changes the
 * image config: WORKDIR resolution, EXPOSE port specs, STOPSIGNAL names. Messages as Docker's.
 */
import { posix } from 'node:path';
import { InvalidParameterError } from '../../errors/index.js';

/** WORKDIR: a relative path is joined to the current one and cleaned; an absolute one is kept as written. */
export function resolveWorkdir(current: string, requested: string): string {
  if (requested === '') throw new InvalidParameterError('cannot normalize nothing');
  if (requested.startsWith('/')) return requested;
  const joined = posix.join('/', current || '/', requested); // Go's filepath.Join also cleans
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

const PROTOS = new Set(['tcp', 'udp', 'sctp']);

function parsePortNumber(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/**
 * EXPOSE values to ExposedPorts keys ("80/tcp"), as nat.ParsePortSpecs does: optional
 * ip:hostPort: prefix ignored, protocol tcp (default), udp or sctp, ranges expanded.
 */
export function exposedPortKeys(ports: readonly string[]): string[] {
  const out: string[] = [];
  for (const spec of ports) {
    // [ip:[hostPort:]]containerPort[/proto]; an IPv6 ip comes in brackets
    let rest = spec;
    const bracket = /^\[[^\]]*\]:/.exec(rest);
    if (bracket) rest = rest.slice(bracket[0].length);
    const parts = rest.split(':');
    const raw = parts[parts.length - 1]!;
    const slash = raw.split('/');
    let proto = 'tcp';
    let port = raw;
    if (raw !== '' && slash.length > 1) {
      port = slash[0]!;
      if (slash[1] !== '') proto = slash[1]!;
    }
    proto = proto.toLowerCase();
    if (!PROTOS.has(proto)) throw new InvalidParameterError(`Invalid proto: ${proto}`);
    const range = /^(\d+)(?:-(\d+))?$/.exec(port);
    const start = range ? parsePortNumber(range[1]!) : undefined;
    const end = range ? (range[2] === undefined ? start : parsePortNumber(range[2])) : undefined;
    if (start === undefined || end === undefined || end < start) throw new InvalidParameterError(`Invalid containerPort: ${port}`);
    for (let p = start; p <= end; p++) {
      const key = `${p}/${proto}`;
      if (!out.includes(key)) out.push(key);
    }
  }
  return out;
}

const SIGNALS: Record<string, number> = {
  ABRT: 6, ALRM: 14, BUS: 7, CHLD: 17, CLD: 17, CONT: 18, FPE: 8, HUP: 1, ILL: 4, INT: 2, IO: 29, IOT: 6,
  KILL: 9, PIPE: 13, POLL: 29, PROF: 27, PWR: 30, QUIT: 3, SEGV: 11, STKFLT: 16, STOP: 19, SYS: 31,
  TERM: 15, TRAP: 5, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, USR1: 10, USR2: 12, VTALRM: 26, WINCH: 28,
  XCPU: 24, XFSZ: 25, RTMIN: 34, RTMAX: 64,
};
for (let i = 1; i <= 15; i++) SIGNALS[`RTMIN+${i}`] = 34 + i;
for (let i = 1; i <= 14; i++) SIGNALS[`RTMAX-${i}`] = 64 - i;

/** STOPSIGNAL as Docker's signal.ParseSignal: a number, or a name with or without SIG, any case. */
export function parseSignal(raw: string): number {
  if (/^[+-]?\d+$/.test(raw)) {
    const n = Number(raw);
    if (n === 0) throw new InvalidParameterError(`Invalid signal: ${raw}`);
    return n;
  }
  const n = SIGNALS[raw.toUpperCase().replace(/^SIG/, '')];
  if (n === undefined) throw new InvalidParameterError(`Invalid signal: ${raw}`);
  return n;
}
