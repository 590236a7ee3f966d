/** Host operations (mounts, named network namespaces, veth endpoints) without a process each, and tools run without forking the daemon; see host-ops.ts. */
export { mount, umount, addNetns, deleteNetns, runTool, helperAvailable, addVethPair, loopbackUp, deleteLinkByName, makeFifo, spawnDetached, sealedCopy, sealedCopyPath, HostOpError, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MNT_DETACH } from './host-ops.js';
export type { ToolResult, VethPairSpec } from './host-ops.js';
