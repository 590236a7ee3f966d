export { ContainerService, mergeConfig, normaliseSignal } from './container-service.js';
export type { ContainerNetworking, ContainerServiceOptions, ContainerHooks } from './container-service.js';
export type { ContainerRecord, ContainerState, ContainerStatus } from './types.js';
export { listShape, inspectShape, humanStatus, humanDuration } from './shapes.js';
export { readLogs, frame, dockerTimestamp, encodeLogBatch, LogEntry } from './log-file.js';
export type { LogQuery } from './log-file.js';
export type { AttachClient } from './attach.js';
export { parseDetachKeys } from './attach.js';
