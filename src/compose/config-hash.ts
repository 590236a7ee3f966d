/**
 * The value of the com.docker.compose.config-hash label: a digest of a service's normalised configuration that
 * changes exactly when the container must be recreated. As docker compose does, it leaves out what does not
 * change a container: build, pull_policy, scale/replicas, depends_on and profiles.
 */
import { createHash } from 'node:crypto';
import type { ServiceConfig } from './types.js';
import { serializeService } from './serialize.js';

/** JSON with object keys sorted at every level, so the digest does not depend on key order. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** sha256 hex of the service's configuration relevant to its containers. */
export function serviceConfigHash(service: ServiceConfig): string {
  const d = serializeService(service);
  delete d.build;
  delete d.pull_policy;
  delete d.scale;
  delete d.depends_on;
  delete d.profiles;
  if (d.deploy && typeof d.deploy === 'object') {
    const dep = { ...(d.deploy as Record<string, unknown>) };
    delete dep.replicas;
    d.deploy = Object.keys(dep).length ? dep : undefined;
  }
  return createHash('sha256').update(stableStringify({ name: service.name, ...d })).digest('hex');
}
