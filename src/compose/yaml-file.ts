/**
 * Parsing a compose file: YAML 1.2 with anchors, aliases and `<<` merge keys, and the Compose merge tags
 * `!reset` (drop what earlier files set) and `!override` (replace instead of merging), kept as markers for the merge.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { InvalidParameterError } from '../errors/index.js';
import { isJsonFaithful, LoadCache, moduleStamp } from './load-cache.js';

const require = createRequire(import.meta.url);
let yamlLib: typeof Yaml | undefined;
/** The yaml package, loaded on first use (about 40 modules: a warm `up` parses nothing, see load-cache.ts). */
export function yaml(): typeof Yaml {
  return (yamlLib ??= require('yaml') as typeof Yaml);
}

let parserStamp: string | undefined;
/** What a cached parse depends on besides the text: this module and the yaml package. */
function stamp(): string {
  return (parserStamp ??= `${moduleStamp(new URL(import.meta.url))}|${moduleStamp(require.resolve('yaml'))}`);
}

export const RESET = '\u0000compose:reset';
export const OVERRIDE = '\u0000compose:override';

export type Tree = Record<string, unknown>;

/** `0440` is octal for docker compose's YAML parser (file modes are written so); YAML 1.2 alone reads it as 440. */
const LEGACY_OCTAL = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^0[0-7]+$/,
  resolve: (s: string): number => Number.parseInt(s, 8),
};

/** Parses one compose file's text into a plain object (markers for !reset/!override); `cache` keeps the result. */
export function parseComposeYaml(text: string, file: string, cache?: LoadCache): Tree {
  const key = cache && LoadCache.digest('yaml', stamp(), text);
  const hit = key && cache.get(key);
  if (hit) {
    try { return JSON.parse(hit) as Tree; } catch { /* torn or foreign entry: parse again */ }
  }
  const tree = parseText(text, file);
  if (key && isJsonFaithful(tree)) cache.put(key, JSON.stringify(tree));
  return tree;
}

function parseText(text: string, file: string): Tree {
  const { parseDocument, visit, Scalar, YAMLMap, isNode } = yaml();
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: false, customTags: (tags) => [LEGACY_OCTAL, ...(tags as never[])] });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? text.slice(0, e.pos[0]).split('\n').length;
    throw new InvalidParameterError(`failed to parse ${file}: yaml: ${line ? `line ${line}: ` : ''}${e.message.split('\n')[0]}`);
  }
  visit(doc, {
    Node(_key, node) {
      if (!isNode(node) || !node.tag) return undefined;
      if (node.tag === '!reset') return new Scalar(RESET);
      if (node.tag === '!override') {
        node.tag = undefined;
        const wrap = new YAMLMap();
        wrap.set(new Scalar(OVERRIDE), node);
        return wrap;
      }
      return undefined;
    },
  });
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 10000 });
  } catch (err) {
    throw new InvalidParameterError(`failed to parse ${file}: ${(err as Error).message}`);
  }
  if (js === null || js === undefined) return {};
  if (typeof js !== 'object' || Array.isArray(js)) {
    throw new InvalidParameterError(`${file}: Top-level object must be a mapping`);
  }
  return js as Tree;
}

export function isOverride(v: unknown): v is { [OVERRIDE]: unknown } {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, OVERRIDE);
}

/** A copy without merge markers (reset entries removed, overrides unwrapped): what the schema validates. */
export function stripMarkers(v: unknown): unknown {
  if (isOverride(v)) return stripMarkers(v[OVERRIDE]);
  if (Array.isArray(v)) return v.filter((x) => x !== RESET).map(stripMarkers);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== RESET) out[k] = stripMarkers(x);
    return out;
  }
  return v;
}
