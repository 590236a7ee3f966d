/**
 * Request bodies checked against the Go types dockerd decodes them into, so that a wrong JSON type
 * is refused at the request with encoding/json's wording (`json: cannot unmarshal number into Go
 * struct field ContainerConfigWrapper.Labels of type string`), instead of being saved where clients
 * cannot decode it, or failing later with a TypeError. The types are tables of kinds (see `struct`).
 *
 * As encoding/json: `null` is accepted for any field (the zero value), unknown fields are ignored,
 * field names also match case-insensitively, and int fields take integers in range only. Unlike it,
 * a `null` element of an array or map is refused unless the element is an empty struct: Go would
 * store a zero value there that the code reading the record does not expect.
 */
import { InvalidParameterError } from './index.js';

/** A further check of a value of the right type (port numbers, IP addresses); throws InvalidParameterError. */
export type ValueCheck = (value: any) => void;

export type JsonKind = (
  | { kind: 'string' | 'bool' | 'strslice' }
  | { kind: 'int'; go: string; min: number; max: number }
  | { kind: 'array'; of: JsonKind }
  | { kind: 'map'; of: JsonKind; go: string; key?: ValueCheck }
  | { kind: 'struct'; go: string; fields: Map<string, { name: string; struct: string; of: JsonKind }> }
) & { check?: ValueCheck };

export const str: JsonKind = { kind: 'string' };
export const bool: JsonKind = { kind: 'bool' };
/** Docker's strslice.StrSlice (Cmd, Entrypoint, Shell): a string or an array of strings. */
export const strslice: JsonKind = { kind: 'strslice' };
/** An integer type (int64 by default). Beyond 2^53 JSON numbers are not exact in JS: the bounds are the nearest doubles. */
export const int = (go: string, min = -(2 ** 63), max = 2 ** 63): JsonKind => ({ kind: 'int', go, min, max });
export const int64 = int('int64');
export const goInt = int('int');
export const uint16 = int('uint16', 0, 0xffff);
export const uint64 = int('uint64', 0, 2 ** 64);

export const arrayOf = (of: JsonKind): JsonKind => ({ kind: 'array', of });
export const mapOf = (of: JsonKind, go = `map[string]${goType(of)}`, key?: ValueCheck): JsonKind => ({ kind: 'map', of, go, key });
export const strings = arrayOf(str);
export const stringMap = mapOf(str);
/** Go's struct{} (the values of ExposedPorts and Volumes). */
export const emptyStruct: JsonKind = { kind: 'struct', go: 'struct {}', fields: new Map() };

/** The same kind with a check of its values added. */
export const checked = (k: JsonKind, check: ValueCheck): JsonKind => ({ ...k, check });

/**
 * A Go struct: its type name (as errors print it) and its fields, grouped by the struct that
 * declares them (an embedded struct's fields are named by it in errors, as `Resources.HostConfig.Memory`).
 */
export function struct(go: string, ...parts: [declaredIn: string, fields: Record<string, JsonKind>][]): JsonKind {
  const fields = new Map<string, { name: string; struct: string; of: JsonKind }>();
  for (const [declaredIn, table] of parts) {
    for (const [name, of] of Object.entries(table)) fields.set(name.toLowerCase(), { name, struct: declaredIn, of });
  }
  return { kind: 'struct', go, fields };
}

/** The name encoding/json gives a JSON value's type in its errors. */
export function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;   // string, number
}

function goType(k: JsonKind): string {
  switch (k.kind) {
    case 'string': case 'bool': return k.kind;
    case 'strslice': return 'strslice.StrSlice';
    case 'array': return `[]${goType(k.of)}`;
    default: return k.go;
  }
}

/** Where a value sits: the Go struct that declares its field, and the field path from the body's top. */
interface Place { struct: string; path: string[] }

function unmarshalError(what: string, at: Place, type: string): InvalidParameterError {
  const into = at.path.length ? `Go struct field ${at.struct}.${at.path.join('.')}` : 'Go value';
  return new InvalidParameterError(`json: cannot unmarshal ${what} into ${into} of type ${type}`);
}

/** Checks a decoded JSON value against a kind; throws InvalidParameterError with encoding/json's message. */
export function checkJson(value: unknown, k: JsonKind, at: Place = { struct: '', path: [] }): void {
  if (value === null || value === undefined) return;
  const wrong = () => unmarshalError(jsonTypeName(value), at, goType(k));
  switch (k.kind) {
    case 'string': if (typeof value !== 'string') throw wrong(); break;
    case 'bool': if (typeof value !== 'boolean') throw wrong(); break;
    case 'int':
      if (typeof value !== 'number') throw wrong();
      if (!Number.isInteger(value) || value < k.min || value > k.max) throw unmarshalError(`number ${String(value).replace('e+', 'e')}`, at, k.go);
      break;
    case 'strslice':
      // strslice's own decoder tries []string, then string, and reports the second failure.
      if (typeof value !== 'string' && !(Array.isArray(value) && value.every((s) => typeof s === 'string'))) throw unmarshalError(jsonTypeName(value), at, 'string');
      break;
    case 'array':
      if (!Array.isArray(value)) throw wrong();
      for (const v of value) checkElement(v, k.of, at);
      break;
    case 'map':
      if (!isObject(value)) throw wrong();
      for (const [key, v] of Object.entries(value)) { k.key?.(key); checkElement(v, k.of, at); }
      break;
    case 'struct':
      if (!isObject(value)) throw wrong();
      for (const [key, v] of Object.entries(value)) {
        const f = k.fields.get(key.toLowerCase());
        if (f) checkJson(v, f.of, { struct: f.struct, path: [...at.path, f.name] });
      }
      break;
  }
  k.check?.(value);
}

function checkElement(v: unknown, of: JsonKind, at: Place): void {
  if (v === null && of !== emptyStruct) throw unmarshalError('null', at, goType(of));
  checkJson(v, of, at);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
