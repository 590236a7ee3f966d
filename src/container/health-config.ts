/**
 * Docker's merge of a requested Healthcheck with the image's (or, at commit, the container's): a
 * request without one takes the base's; a partial one (say only `--health-interval`) takes Test and
 * every zero duration or retry count from the base, field by field. `--no-healthcheck` arrives as
 * Test ["NONE"], which is kept — its zero fields are still filled, as dockerd does.
 */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

const FIELDS = ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const;

export function mergeHealthcheck(req: HealthConfig | null | undefined, base: HealthConfig | null | undefined): HealthConfig | undefined {
  if (!base) return req ?? undefined;
  if (!req) return base;
  const out: HealthConfig = { ...req };
  if (!out.Test || out.Test.length === 0) out.Test = base.Test;
  for (const f of FIELDS) if (!out[f] && base[f]) out[f] = base[f];
  return out;
}
