/**
 * Volumes: the local driver (VolumeService) and a container's mounts (ContainerMounts: binds,
 * --mount, --volumes-from, image VOLUMEs, copy-up), plus in-root path resolution that never
 * lets a container's symlinks reach the host.
 */
export { VolumeService, ANONYMOUS_LABEL, isMountPoint } from './volume-service.js';
export type { VolumeRecord, VolumeUsage } from './volume-service.js';
export { ContainerMounts, dockerShape } from './container-mounts.js';
export type { MountingContainer, PlannedMount, OciMount } from './container-mounts.js';
export { resolveInRoot, walkInRoot, isInside, verifyInside } from './scoped-path.js';
