export { buildSpec, capabilitiesFor, boundingCapabilities, hardLimit, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './oci-spec.js';
export type { SpecInput } from './oci-spec.js';
export { ConmonRuntime, RuntimeCreateError, cleanRuntimeError, findBinary, monitorBinary, isMonitorOf } from './conmon-runtime.js';
export type { RuntimeConfig, MonitorStart } from './conmon-runtime.js';
export { ownCgroups } from './cgroup-move-warmer.js';
export { nsexecBinary, nsexecPlan, startNsexec, seccompLines, compiledSeccomp, NsexecStartError } from './nsexec.js';
export type { NsexecTarget, NsexecProcess, SeccompSpec } from './nsexec.js';
export type { NsexecOptions } from './nsexec.js';
