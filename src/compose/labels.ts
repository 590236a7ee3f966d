/**
 * The labels and names docker compose gives what it creates, so that a project started by docker compose is
 * recognised by berth compose and the reverse.
 */
import { serviceConfigHash } from './config-hash.js';
import type { ComposeProject, ServiceConfig } from './types.js';

export const LABEL_PROJECT = 'com.docker.compose.project';
export const LABEL_SERVICE = 'com.docker.compose.service';
export const LABEL_CONTAINER_NUMBER = 'com.docker.compose.container-number';
export const LABEL_ONEOFF = 'com.docker.compose.oneoff';
export const LABEL_CONFIG_HASH = 'com.docker.compose.config-hash';
export const LABEL_WORKING_DIR = 'com.docker.compose.project.working_dir';
export const LABEL_CONFIG_FILES = 'com.docker.compose.project.config_files';
export const LABEL_ENVIRONMENT_FILE = 'com.docker.compose.project.environment_file';
export const LABEL_DEPENDS_ON = 'com.docker.compose.depends_on';
export const LABEL_VERSION = 'com.docker.compose.version';
export const LABEL_IMAGE = 'com.docker.compose.image';
export const LABEL_NETWORK = 'com.docker.compose.network';
export const LABEL_VOLUME = 'com.docker.compose.volume';

/** `project-service-N`, or the service's container_name. */
export function containerName(project: string, service: ServiceConfig, index: number): string {
  return service.container_name ?? `${project}-${service.name}-${index}`;
}

/** The image a service with only `build:` gets: `project-service`. */
export function defaultImageName(project: string, service: ServiceConfig): string {
  return service.image ?? `${project}-${service.name}`;
}

/** "db:service_healthy:false,cache:service_started:true" — docker compose's com.docker.compose.depends_on. */
export function dependsOnLabel(service: ServiceConfig): string {
  return Object.entries(service.depends_on ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, d]) => `${name}:${d.condition}:${d.restart ? 'true' : 'false'}`)
    .join(',');
}

/** Labels of a service container (the service's own labels first, compose's over them). */
export function containerLabels(
  project: ComposeProject,
  service: ServiceConfig,
  opts: { number: number; oneoff?: boolean; version: string; envFiles?: string[] },
): Record<string, string> {
  const labels: Record<string, string> = {
    ...(service.labels ?? {}),
    [LABEL_PROJECT]: project.name,
    [LABEL_SERVICE]: service.name,
    [LABEL_CONTAINER_NUMBER]: String(opts.number),
    [LABEL_ONEOFF]: opts.oneoff ? 'True' : 'False',
    [LABEL_CONFIG_HASH]: serviceConfigHash(service),
    [LABEL_WORKING_DIR]: project.workingDir,
    [LABEL_CONFIG_FILES]: project.configFiles.join(','),
    [LABEL_DEPENDS_ON]: dependsOnLabel(service),
    [LABEL_VERSION]: opts.version,
  };
  if (opts.envFiles?.length) labels[LABEL_ENVIRONMENT_FILE] = opts.envFiles.join(',');
  return labels;
}

/** Labels of a project network (`key` is its name in the compose file). */
export function networkLabels(project: ComposeProject, key: string, version: string): Record<string, string> {
  return { ...(project.networks[key]?.labels ?? {}), [LABEL_NETWORK]: key, [LABEL_PROJECT]: project.name, [LABEL_VERSION]: version };
}

/** Labels of a project volume. */
export function volumeLabels(project: ComposeProject, key: string, version: string): Record<string, string> {
  return { ...(project.volumes[key]?.labels ?? {}), [LABEL_VOLUME]: key, [LABEL_PROJECT]: project.name, [LABEL_VERSION]: version };
}
