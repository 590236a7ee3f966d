/**
 * A small HTTP router for the Engine API: method + path pattern (`/containers/:id/start`) → handler.
 * Handlers receive a parsed request and either return a JSON-able value (sent with the given
 * status) or take over the response (streams, hijacked connections).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidParameterError } from '../errors/index.js';

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  raw: IncomingMessage;
  /** Present for requests carrying `Upgrade: tcp` (hijacked attach/exec). */
  upgradeSocket?: Duplex;
  /** An upgraded request's own body (its Content-Length bytes), read off the socket before the stream starts. */
  upgradeBody?: Buffer;
  /** The negotiated API version of this request ("1.45"). */
  apiVersion: string;
}

export type ApiResult = { status?: number; body?: unknown; headers?: Record<string, string> } | undefined;
export type Handler = (req: ApiRequest, res: ServerResponse) => Promise<ApiResult | void> | ApiResult | void;

interface Route { method: string; parts: string[]; handler: Handler }

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }
  get(p: string, h: Handler) { return this.add('GET', p, h); }
  post(p: string, h: Handler) { return this.add('POST', p, h); }
  put(p: string, h: Handler) { return this.add('PUT', p, h); }
  delete(p: string, h: Handler) { return this.add('DELETE', p, h); }
  head(p: string, h: Handler) { return this.add('HEAD', p, h); }

  /** Finds the handler; `:name*` as the last part captures the rest of the path (image names have slashes). */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    const segs = path.split('/').filter(Boolean);
    let methodMismatch = false;
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) { methodMismatch = true; continue; }
      return { handler: r.handler, params };
    }
    return methodMismatch ? 'method' : undefined;
  }
}

/** A path segment's %-escapes decoded; a broken escape is the client's error (400), not a crash. */
function decodeSegment(seg: string): string {
  try { return decodeURIComponent(seg); } catch { throw new InvalidParameterError(`invalid URL escape in path segment "${seg.slice(0, 200)}"`); }
}

function matchParts(parts: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.startsWith(':') && p.endsWith('*')) {
      // Greedy capture, but leave room for the literal parts after it (e.g. /images/:name*/json).
      const rest = parts.slice(i + 1);
      const take = segs.length - i - rest.length;
      if (take < 1) return undefined;
      params[p.slice(1, -1)] = segs.slice(i, i + take).map(decodeSegment).join('/');
      const tail = matchParts(rest, segs.slice(i + take));
      return tail ? { ...params, ...tail } : undefined;
    }
    if (i >= segs.length) return undefined;
    if (p.startsWith(':')) params[p.slice(1)] = decodeSegment(segs[i]);
    else if (p !== segs[i]) return undefined;
  }
  return parts.length === segs.length ? params : undefined;
}

const MAX_JSON_BODY = 16 * 1024 * 1024;
/**
 * Deeper bodies are refused before they are parsed: JSON.stringify (saving a record) overflows the
 * stack a few thousand levels down, and no Engine API body comes near this.
 */
const MAX_JSON_DEPTH = 1000;

/** Reads a JSON body (empty → undefined). Malformed JSON is a 400, as in Docker. */
export async function readJson<T = any>(req: IncomingMessage): Promise<T | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_JSON_BODY) throw new InvalidParameterError('request body too large');
    chunks.push(c as Buffer);
  }
  return parseJson<T>(Buffer.concat(chunks).toString('utf8'));
}

/** The request's JSON body, whether it came as an ordinary body or ahead of a hijacked stream. */
export async function requestJson<T = any>(req: ApiRequest): Promise<T | undefined> {
  return req.upgradeSocket ? parseJson<T>(req.upgradeBody?.toString('utf8') ?? '') : readJson<T>(req.raw);
}

/**
 * On an upgraded connection the request's body arrives on the socket itself, ahead of the raw
 * stream: exactly Content-Length bytes are taken (dockerode sends its attach options as one), so
 * they never reach a container's stdin.
 */
export async function readUpgradeBody(socket: Duplex, length: number): Promise<Buffer | undefined> {
  if (!(length > 0)) return undefined;
  if (length > MAX_JSON_BODY) throw new InvalidParameterError('request body too large');
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < length) {
    const chunk: Buffer | null = socket.read();
    if (chunk === null) {
      if (socket.readableEnded || socket.destroyed) break;
      await new Promise<void>((resolve) => { const done = () => { socket.off('readable', done); socket.off('end', done); socket.off('close', done); resolve(); }; socket.on('readable', done); socket.on('end', done); socket.on('close', done); });
      continue;
    }
    const need = length - have;
    if (chunk.length > need) { socket.unshift(chunk.subarray(need)); chunks.push(chunk.subarray(0, need)); have = length; }
    else { chunks.push(chunk); have += chunk.length; }
  }
  return Buffer.concat(chunks);
}

/** A request body's JSON (blank → undefined); malformed or too deeply nested JSON is a 400. */
export function parseJson<T = any>(body: string): T | undefined {
  const text = body.trim();
  if (!text) return undefined;
  if (nestingExceeds(text, MAX_JSON_DEPTH)) throw new InvalidParameterError('invalid JSON: exceeded max depth');
  try { return JSON.parse(text) as T; } catch (e) {
    throw new InvalidParameterError(`invalid JSON: ${(e as Error).message}`);
  }
}

/** Whether brackets outside strings nest deeper than limit. */
function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {   // skip a string, and the escaped characters in it
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++; else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export function boolParam(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return !['0', 'false', 'False', 'FALSE', 'no'].includes(v);
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidParameterError(`invalid value for ${name}: ${v}`);
  return n;
}

/** Docker's `filters` query parameter: JSON map of name → list (or the legacy map of name → {value: true}). */
export function filtersParam(q: URLSearchParams): Record<string, string[]> {
  const raw = q.get('filters');
  if (!raw) return {};
  let parsed: unknown;
  try { parsed = JSON.parse(raw); } catch { throw new InvalidParameterError(`invalid filter '${raw}'`); }
  const out: Record<string, string[]> = {};
  if (!parsed || typeof parsed !== 'object') throw new InvalidParameterError(`invalid filter '${raw}'`);
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object') out[k] = Object.keys(v as object).filter((x) => (v as any)[x]);
    else throw new InvalidParameterError(`invalid filter '${raw}'`);
  }
  return out;
}

/** Rejects filter names a resource does not know, with Docker's message. */
export function checkFilters(filters: Record<string, string[]>, allowed: string[]): void {
  for (const k of Object.keys(filters)) {
    if (!allowed.includes(k)) throw new InvalidParameterError(`invalid filter '${k}'`);
  }
}

/** Whether API version `v` ("1.41") is older than `than`: for the fields later versions dropped or added. */
export function olderThan(v: string, than: string): boolean {
  const [a1, a2] = v.split('.').map(Number); const [b1, b2] = than.split('.').map(Number);
  return a1 < b1 || (a1 === b1 && a2 < b2);
}
