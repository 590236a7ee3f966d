/**
 * Validation of a compose file against the Compose specification's JSON schema (draft 2020-12, the copy docker
 * compose uses), with docker compose's wording: the most specific failing field, in dotted form, and what it must be
 * ("validating compose.yaml: services.web.ports.0 must be a number, string or mapping").
 */
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { InvalidParameterError } from '../errors/index.js';
import type * as Precompiled from './compose-spec-validator.cjs';
import { isJsonFaithful, LoadCache, moduleStamp } from './load-cache.js';

const require = createRequire(import.meta.url);
const VALIDATOR = './compose-spec-validator.cjs';
let validator: ValidateFunction | undefined;
let validatorStamp: string | undefined;

export class SchemaValidationError extends InvalidParameterError {
  constructor(readonly file: string, readonly field: string, readonly detail: string) {
    super(`validating ${file}: ${field} ${detail}`);
  }
}

/**
 * The schema compiled ahead of time (generate-validator.ts; compiling it at run time costs ~0.8 s), loaded on first
 * use: with a cached verdict a warm run does not load it at all.
 */
function compiled(): ValidateFunction {
  return (validator ??= (require(VALIDATOR) as typeof Precompiled).validate as unknown as ValidateFunction);
}

/**
 * Throws SchemaValidationError naming the file and the key when `config` does not match the schema. With `cache`,
 * a model that passed before (same JSON, same validator build) passes without running the validator.
 */
export function validateComposeSchema(config: unknown, file: string, cache?: LoadCache): void {
  const key = cache && isJsonFaithful(config) && LoadCache.digest('valid', (validatorStamp ??= moduleStamp(new URL(VALIDATOR, import.meta.url))), JSON.stringify(config));
  if (key && cache.get(key) !== undefined) return;
  const validate = compiled();
  if (validate(config)) {
    if (key) cache.put(key, '');
    return;
  }
  const { field, detail } = describe(validate.errors ?? []);
  throw new SchemaValidationError(file, field, detail);
}

function fieldOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.length ? parts.join('.') : '(root)';
}

function depth(e: ErrorObject): number {
  return e.instancePath === '' ? 0 : e.instancePath.split('/').length - 1;
}

const humanType = (t: string): string => (t === 'object' ? 'mapping' : t === 'array' ? 'list' : t);

function joinOr(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** Picks the most specific error (deepest field; type errors win ties) and words it as docker compose does. */
function describe(errors: ErrorObject[]): { field: string; detail: string } {
  // an additional property is reported at its parent, but it is the most useful message there is
  const extra = errors.filter((e) => e.keyword === 'additionalProperties');
  const deepestExtra = extra.sort((a, b) => depth(b) - depth(a))[0];
  const meaningful = errors.filter((e) => !['oneOf', 'anyOf', 'if', 'not', 'allOf'].includes(e.keyword));
  const pool = meaningful.length ? meaningful : errors;
  const maxDepth = Math.max(...pool.map(depth));
  const atMax = pool.filter((e) => depth(e) === maxDepth);
  if (deepestExtra && depth(deepestExtra) >= maxDepth) {
    const prop = (deepestExtra.params as { additionalProperty: string }).additionalProperty;
    return { field: fieldOf(deepestExtra), detail: `Additional property ${prop} is not allowed` };
  }
  // a value of the right type for one branch fails for a reason (required, enum...): that reason is the message
  const typeErrors = atMax.filter((e) => e.keyword === 'type');
  const otherErrors = atMax.filter((e) => e.keyword !== 'type');
  if (typeErrors.length && !otherErrors.length) {
    const types: string[] = [];
    for (const e of typeErrors) {
      const t = (e.params as { type: string | string[] }).type;
      for (const x of Array.isArray(t) ? t : String(t).split(',')) {
        const h = humanType(x === 'integer' ? 'number' : x);
        if (!types.includes(h)) types.push(h);
      }
    }
    return { field: fieldOf(typeErrors[0]), detail: `must be a ${joinOr(types)}` };
  }
  const e = otherErrors[0] ?? atMax[0];
  const field = fieldOf(e);
  switch (e.keyword) {
    case 'required':
      return { field, detail: `${(e.params as { missingProperty: string }).missingProperty} is required` };
    case 'enum':
      return {
        field,
        detail: `must be one of the following: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'uniqueItems':
      return { field, detail: 'contains duplicate items' };
    case 'pattern':
      return { field, detail: `does not match pattern ${(e.params as { pattern: string }).pattern}` };
    case 'minItems':
      return { field, detail: `must contain at least ${(e.params as { limit: number }).limit} items` };
    case 'const':
      return { field, detail: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    default:
      return { field, detail: e.message ?? 'is invalid' };
  }
}
