/**
 * Docker's merge of a requested Healthcheck with the image's (or, at commit, the container's): a
 * request without one takes the base's; a partial one (say only `--health-interval`) takes Test and
 * every zero duration or retry count from the base, field by field. `--no-healthcheck` arrives as
 * Test ["NONE"], which is kept — its zero fields are still filled, as dockerd does.
 */
import { InvalidParameterError } from '../errors/index.js';

export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

const FIELDS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const;

/** dockerd's limits: durations are 0 (the default) or at least 1ms; retries are not negative. A probe every few nanoseconds would be an exec storm. */
function validateHealthcheck(h: HealthConfig): void {
  for (const f of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) {
    const v = h[f];
    if (v !== undefined && v !== null && v !== 0 && v < 1e6) throw new InvalidParameterError(`${f} in Healthcheck cannot be less than 1ms`);
  }
  if (h.Retries !== undefined && h.Retries !== null && h.Retries < 0) throw new InvalidParameterError('Retries in Healthcheck cannot be negative');
}

export function mergeHealthcheck(req: HealthConfig | null | undefined, base: HealthConfig | null | undefined): HealthConfig | undefined {
  if (req) validateHealthcheck(req);
  if (!base) return req ?? undefined;
  if (!req) return base;
  const out: HealthConfig = { ...req };
  if (!out.Test || out.Test.length === 0) out.Test = base.Test;
  for (const f of FIELDS) if (!out[f] && base[f]) out[f] = base[f];
  return out;
}
