/** Host operations (mounts, named network namespaces) without a process each; see host-ops.ts. */
export { mount, umount, addNetns, deleteNetns, HostOpError, MS_BIND, MNT_DETACH } from './host-ops.js';
