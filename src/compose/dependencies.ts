/**
 * What a service needs started first. Kept apart from normalize.ts: the runtime needs only this, not the loader
 * (a warm `up` whose project comes from the project cache loads no loader module at all).
 */
import type { ServiceConfig } from './types.js';

/**
 * The services a service needs started first: depends_on, links, volumes_from and shared namespaces
 * (network_mode/ipc/pid `service:x`), as compose-go's GetDependencies.
 */
export function serviceDependencies(service: ServiceConfig): string[] {
  const deps = new Set(Object.keys(service.depends_on ?? {}));
  for (const l of service.links ?? []) deps.add(l.split(':')[0]);
  for (const v of service.volumes_from ?? []) if (!v.startsWith('container:')) deps.add(v.split(':')[0]);
  for (const m of [service.network_mode, service.ipc, service.pid]) if (m?.startsWith('service:')) deps.add(m.slice(8));
  return [...deps];
}
