/**
 * Engine events (`GET /events`): services emit, the API streams. A bounded history serves
 * `since` queries, as dockerd keeps its last events in memory.
 */
import { EventEmitter } from 'node:events';
import { InvalidParameterError } from '../errors/index.js';

export interface EngineEvent {
  Type: string;            // container | image | network | volume | daemon | builder
  Action: string;          // create, start, die, destroy, pull, tag, untag, delete, …
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;            // seconds
  timeNano: number;
  // Legacy fields still read by older clients.
  status?: string; id?: string; from?: string;
}

const HISTORY = 1024;

/** Each event's exact nanosecond time (a JS number keeps only ~16 digits of timeNano's 19). */
const exactNanos = new WeakMap<EngineEvent, bigint>();

/** An event as dockerd writes it on the wire, timeNano to the nanosecond. */
export function eventJson(ev: EngineEvent): string {
  const text = JSON.stringify(ev);
  const exact = exactNanos.get(ev);
  return exact === undefined ? text : text.replace(/"timeNano":[0-9.e+]+/, `"timeNano":${exact}`);
}

export class EventBus {
  private readonly history: EngineEvent[] = [];
  private readonly emitter = new EventEmitter();

  constructor() { this.emitter.setMaxListeners(0); }

  emit(type: string, action: string, id: string, attributes: Record<string, string> = {}): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime()[1] % 1_000_000);
    // dockerd's field order: the old status/id/from (container and image events only) first.
    const legacy = type === 'container' || type === 'image' ? { status: action, id, ...(attributes.image ? { from: attributes.image } : {}) } : {};
    const ev: EngineEvent = {
      ...legacy, Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(nowNs / 1_000_000_000n), timeNano: Number(nowNs),
    };
    exactNanos.set(ev, nowNs);
    this.history.push(ev);
    if (this.history.length > HISTORY) this.history.shift();
    this.emitter.emit('event', ev);
  }

  /** Past events since `sinceNs` (inclusive), then live ones until unsubscribed. */
  subscribe(fn: (ev: EngineEvent) => void, sinceNs?: number): { past: EngineEvent[]; close(): void } {
    const past = sinceNs === undefined ? [] : this.history.filter((e) => e.timeNano >= sinceNs);
    this.emitter.on('event', fn);
    return { past, close: () => { this.emitter.off('event', fn); } };
  }
}

/** Docker's event filters: type, container, image, event/action, label, network, volume, daemon. */
export function eventMatches(ev: EngineEvent, filters: Record<string, string[]>): boolean {
  const attrs = ev.Actor.Attributes;
  for (const [key, values] of Object.entries(filters)) {
    if (!values.length) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'type': return ev.Type === v;
        case 'event': return ev.Action === v || ev.Action.startsWith(v + ':');
        case 'container': return ev.Type === 'container' && (ev.Actor.ID === v || ev.Actor.ID.startsWith(v) || attrs.name === v);
        case 'image': return (ev.Type === 'image' && (ev.Actor.ID === v || attrs.name === v)) || attrs.image === v || (ev.Type === 'image' && ev.Actor.ID.startsWith(v));
        case 'network': return ev.Type === 'network' && (ev.Actor.ID === v || attrs.name === v);
        case 'volume': return ev.Type === 'volume' && ev.Actor.ID === v;
        case 'label': { const [k, val] = v.split('='); return val === undefined ? k in attrs : attrs[k] === val; }
        case 'scope': return v === 'local';
        case 'daemon': return ev.Type === 'daemon';
        default: return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** Parses Docker's time arguments: unix seconds (with fraction), RFC 3339, or a Go duration ago ("10m"). */
export function parseTimeArg(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return Number(s) * 1e9 + Number((frac + '000000000').slice(0, 9));
  }
  const d = parseGoDuration(v);
  if (d !== undefined) return (now - d / 1e6) * 1e6;
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t * 1e6;
  throw new InvalidParameterError(`failed to parse value as time or duration: ${JSON.stringify(v)}`);   // moby's GetTimestamp
}

/** Go's time.ParseDuration subset ("1h2m3.5s", "300ms") → nanoseconds. */
export function parseGoDuration(v: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0; let m: RegExpExecArray | null; let pos = 0;
  if (!v) return undefined;
  while ((m = re.exec(v))) { total += Number(m[1]) * unit[m[2]]; pos = re.lastIndex; }
  return pos === v.length && pos > 0 ? total : undefined;
}
