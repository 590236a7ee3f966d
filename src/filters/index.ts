/**
 * The pieces of the Engine API's list and prune filters (`filters={"label":["a=b"],…}`) that
 * several resources share: label terms, boolean values and `until`, with dockerd's errors.
 */
import { InvalidParameterError } from '../errors/index.js';
import { parseTimeArg } from '../events/index.js';

/** `key` (the label is set) or `key=value` (set to exactly that). */
export function labelMatch(labels: Record<string, string> | null | undefined, term: string): boolean {
  const l = labels ?? {};
  const i = term.indexOf('=');
  return i < 0 ? term in l : l[term.slice(0, i)] === term.slice(i + 1);
}

/** Every `label` term holds and no `label!` term does (how dockerd combines them). */
export function labelsMatch(labels: Record<string, string> | null | undefined, filters: Record<string, string[]>): boolean {
  return (filters.label ?? []).every((t) => labelMatch(labels, t)) && !(filters['label!'] ?? []).some((t) => labelMatch(labels, t));
}

/** A boolean filter (`dangling=true`): undefined when absent; 400 for a value that is not true/false/1/0. */
export function boolFilter(filters: Record<string, string[]>, key: string): boolean | undefined {
  const values = filters[key];
  if (!values?.length) return undefined;
  for (const v of values) if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) throw new InvalidParameterError(`invalid filter '${key}=${v}'`);
  return values.some((v) => v.toLowerCase() === 'true' || v === '1');
}

/** `until`: a test of a creation time (ISO) against every `until` value, which are read at once (400 for a bad one). */
export function untilFilter(filters: Record<string, string[]>): (created: string) => boolean {
  const cutoffs = (filters.until ?? []).map((u) => parseTimeArg(u));
  return (created) => cutoffs.every((ns) => Date.parse(created) * 1e6 < ns);
}
